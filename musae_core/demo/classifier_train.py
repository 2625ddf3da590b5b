"""Train the demo's factor classifier on held-out corpus clips, as heard through the codec.

The classifier judges generated and steered takes, which only ever come out of the demo codec,
so it is fitted on both the held-out clips' original audio and their codec round trip (views of
one clip share a cross-validation fold). It never sees a clip the LM or the SAE trained on: its
clips are the corpus's held-out split plus, optionally, every clip of a second corpus rendered
with another seed (a tenth of the corpus is too few clips for twelve instrument families).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from musae_core.demo.corpus import load_factors
from musae_core.demo.corpus_spec import load_spec
from musae_core.demo.data import load_corpus_audio, split_records
from musae_core.demo.factor_classifier import (
    FactorClassifier,
    audio_features,
    train_factor_classifier,
)
from musae_core.errors import MusaeError
from musae_core.fileio import write_json_atomic
from musae_core.jobs import CancelToken, ProgressFn, check, no_progress
from musae_core.models.base import MusicModel


@torch.inference_mode()
def codec_round_trip(model: MusicModel, audio: np.ndarray, batch: int = 8) -> np.ndarray:
    """(clips, samples) -> the same clips encoded and decoded by ``model``'s codec."""
    out = []
    for start in range(0, len(audio), batch):
        clip = torch.from_numpy(audio[start : start + batch])
        out.append(model.decode(model.encode(clip))[:, 0].numpy())
    return np.concatenate(out)[:, : audio.shape[1]]


def heldout_audio(
    corpus: str | Path,
    extra_corpus: str | Path | None,
    rate: int,
    max_clips: int | None = None,
    cancel: CancelToken | None = None,
) -> tuple[np.ndarray, list[dict]]:
    """Audio and records of ``corpus``'s held-out clips and of every clip of ``extra_corpus``."""

    def first(records: list[dict]) -> list[dict]:
        return records[:max_clips] if max_clips else records

    _, held = split_records(load_factors(corpus))
    parts = [load_corpus_audio(corpus, rate, first(held), cancel=cancel)]
    if extra_corpus is not None:
        if load_spec(extra_corpus).seed == load_spec(corpus).seed:
            raise MusaeError(
                f"{extra_corpus} was rendered with the same seed as {corpus}, so its clips are "
                "the training corpus's clips.",
                "build the classifier corpus with another --seed.",
            )
        extra = first(load_factors(extra_corpus))
        parts.append(load_corpus_audio(extra_corpus, rate, extra, cancel=cancel))
    length = min(a.shape[1] for a, _ in parts)
    return np.concatenate([a[:, :length] for a, _ in parts]), [r for _, rs in parts for r in rs]


def train_demo_classifier(
    model: MusicModel,
    corpus: str | Path,
    out: str | Path,
    max_clips: int | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    extra_corpus: str | Path | None = None,
) -> tuple[FactorClassifier, dict]:
    """Fit on held-out clips of ``corpus`` (and every clip of ``extra_corpus``), save to ``out``
    (.npz) with a ``.json`` report."""
    progress = progress or no_progress
    rate = model.sample_rate
    audio, held = heldout_audio(corpus, extra_corpus, rate, max_clips, cancel)
    recon = codec_round_trip(model, audio)
    rows = []
    views = [*audio, *recon]
    for i, clip in enumerate(views):
        check(cancel)
        rows.append(audio_features(clip, rate))
        progress(i + 1, len(views))
    feats = np.stack(rows)
    n = len(held)
    _, acc_original = train_factor_classifier(feats[:n], held, rate)
    _, acc_codec = train_factor_classifier(feats[n:], held, rate)
    groups = np.concatenate([np.arange(n), np.arange(n)])
    classifier, acc_both = train_factor_classifier(feats, held + held, rate, groups=groups)
    out = Path(out)
    classifier.save(out)
    report = {
        "clips": n,
        "cv_accuracy": {"original": acc_original, "codec_round_trip": acc_codec,
                        "both": acc_both},
    }  # fmt: skip
    write_json_atomic(out.with_suffix(".json"), report)
    return classifier, report
