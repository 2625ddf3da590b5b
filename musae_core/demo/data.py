"""Corpus audio for training the demo model: clips resampled to the codec rate, split by clip.

The split is a pure function of the clip index (every ``HOLDOUT_EVERY``-th clip is held out),
so the codec, the LM and the factor classifier agree on which clips they never trained on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from musae_core.demo.corpus import load_factors
from musae_core.errors import MusaeError
from musae_core.jobs import CancelToken, ProgressFn, check, no_progress

HOLDOUT_EVERY = 10


def is_heldout(index: int) -> bool:
    return index % HOLDOUT_EVERY == HOLDOUT_EVERY - 1


def split_records(records: list[dict]) -> tuple[list[dict], list[dict]]:
    """(train, held-out) factor records."""
    train = [r for r in records if not is_heldout(int(r["clip"]))]
    held = [r for r in records if is_heldout(int(r["clip"]))]
    return train, held


def read_clip(path: Path, sample_rate: int) -> np.ndarray:
    """A clip as mono float32 at ``sample_rate``."""
    audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    if rate != sample_rate:
        g = np.gcd(rate, sample_rate)
        mono = resample_poly(mono, sample_rate // g, rate // g).astype(np.float32)
    return mono


def load_corpus_audio(
    corpus: str | Path,
    sample_rate: int,
    records: list[dict] | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> tuple[np.ndarray, list[dict]]:
    """(clips, samples) float32 audio of equal-length clips and their records."""
    progress = progress or no_progress
    corpus = Path(corpus)
    records = load_factors(corpus) if records is None else records
    if not records:
        raise MusaeError(f"{corpus} holds no clips.", "build it with `musae demo build-corpus`.")
    clips = []
    for i, record in enumerate(records):
        check(cancel)
        clips.append(read_clip(corpus / "clips" / record["file"], sample_rate))
        progress(i + 1, len(records))
    length = min(len(c) for c in clips)
    return np.stack([c[:length] for c in clips]), records
