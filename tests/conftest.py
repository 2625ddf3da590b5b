"""Shared fixtures: a tiny MusicGen built offline, on the CPU, once per test session."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
import torch

torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(scope="session")
def tiny_model():
    from musae_core.models.loading import load_model

    return load_model("tiny", device="cpu", dtype="fp32")
