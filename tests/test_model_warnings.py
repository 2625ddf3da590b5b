"""A clean load prints nothing it does not mean (issue 20, item 11): transformers' false alarm
that MusicGen's pad/bos token (= vocab_size) lies outside the vocabulary is gone for the tiny
model and the shipped demo model, while a truly out-of-range token id still warns."""

from __future__ import annotations

import logging

import pytest
from transformers import MusicgenConfig
from transformers.utils import logging as hf_logging

from musae_core.demo.model_build import DEMO_MODEL_DIR
from musae_core.models import load_model
from musae_core.models.tiny import tiny_config


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def transformers_log():
    """Every message transformers logs during the test (its warn-once cache cleared first)."""
    hf_logging.warning_once.cache_clear()
    root = logging.getLogger("transformers")
    capture = Capture()
    root.addHandler(capture)
    try:
        yield capture.messages
    finally:
        root.removeHandler(capture)
        hf_logging.warning_once.cache_clear()


def vocabulary_warnings(messages: list[str]) -> list[str]:
    return [m for m in messages if "within the vocabulary" in m]


@pytest.mark.skipif(not (DEMO_MODEL_DIR / "config.json").exists(), reason="no demo model")
def test_tiny_and_demo_models_load_without_token_id_warnings(transformers_log):
    load_model("tiny")
    load_model(str(DEMO_MODEL_DIR))
    assert vocabulary_warnings(transformers_log) == []


def test_a_really_out_of_range_token_id_still_warns(transformers_log):
    base = tiny_config()
    decoder = base.decoder.to_dict()
    decoder["pad_token_id"] = base.decoder.vocab_size + 7
    MusicgenConfig(
        text_encoder=base.text_encoder.to_dict(),
        audio_encoder=base.audio_encoder.to_dict(),
        decoder=decoder,
    )
    assert any(f"got {base.decoder.vocab_size + 7}" in m for m in transformers_log)
