"""Train the demo's factor classifier on held-out corpus clips, as heard through the codec.

The classifier judges generated and steered takes, which only ever come out of the demo codec,
so it is fitted on both the held-out clips' original audio and their codec round trip (views of
one clip share a cross-validation fold). It never sees a clip the LM or the SAE trained on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from musae_core.demo.corpus import load_factors
from musae_core.demo.data import load_corpus_audio, split_records
from musae_core.demo.factor_classifier import (
    FactorClassifier,
    audio_features,
    train_factor_classifier,
)
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


def train_demo_classifier(
    model: MusicModel,
    corpus: str | Path,
    out: str | Path,
    max_clips: int | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> tuple[FactorClassifier, dict]:
    """Fit on held-out clips of ``corpus``, save to ``out`` (.npz) with a ``.json`` report."""
    progress = progress or no_progress
    _, held = split_records(load_factors(corpus))
    held = held[:max_clips] if max_clips else held
    rate = model.sample_rate
    audio, _ = load_corpus_audio(corpus, rate, held, cancel=cancel)
    recon = codec_round_trip(model, audio)
    feats = []
    views = [*audio, *recon]
    for i, clip in enumerate(views):
        check(cancel)
        feats.append(audio_features(clip, rate))
        progress(i + 1, len(views))
    feats = np.stack(feats)
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
