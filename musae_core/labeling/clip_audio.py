"""Audio of a feature's top clips, and the random baseline clips every labeller compares against.

Baseline choice (documented because every score depends on it): the baseline is a pool of
clips drawn from the top clips of randomly chosen features of the same database, round-robin
(one clip of each chosen feature before a second), seeded so a re-run draws the same pool.
One pool serves a whole job; for each feature, pool clips that came from that feature or that
are also among its top clips are dropped. Top clips of other features span the collection
(they come from all over the activation store) while staying readable through the same
``TopClip`` records, so no labeller needs to know the activation store.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr

from musae_core.errors import MusaeError
from musae_core.features.feature_store import FeatureStore
from musae_core.features.records import TopClip

ClipKey = tuple[str, float]


def clip_key(clip: TopClip) -> ClipKey:
    """Identity of a clip across features: its source and start time."""
    return clip.source_path, round(float(clip.clip_start), 3)


def read_segment(path: Path, start: float, seconds: float | None) -> tuple[np.ndarray, int]:
    with sf.SoundFile(str(path)) as handle:
        rate = handle.samplerate
        first = max(0, round(start * rate))
        if first >= handle.frames:
            raise MusaeError(
                f"Clip start {start:.2f} s lies beyond the end of {path}.",
                "re-run the feature statistics job against the current audio files.",
            )
        handle.seek(first)
        frames = -1 if seconds is None else max(1, round(seconds * rate))
        data = handle.read(frames, dtype="float32", always_2d=True)
    return data.mean(axis=1), rate


def read_clip(clip: TopClip, sample_rate: int, prefer_snippet: bool = False) -> np.ndarray:
    """Mono float32 audio of a top clip at ``sample_rate``.

    Reads ``clip_seconds`` from the source at ``clip_start``; the stored snippet is used when
    asked for (shorter, made for listening) or when the source cannot be read (e.g. a generated
    take that only exists as a snippet).
    """
    snippet = Path(clip.snippet_path) if clip.snippet_path else None
    source = Path(clip.source_path) if clip.source_path else None
    start, seconds = float(clip.clip_start), clip.clip_seconds
    candidates: list[tuple[Path, float, float | None]] = []
    if snippet is not None and prefer_snippet:
        candidates.append((snippet, 0.0, None))
    if source is not None and source.is_file():
        candidates.append((source, start, float(seconds) if seconds else None))
    if snippet is not None and not prefer_snippet:
        candidates.append((snippet, 0.0, None))
    errors = []
    for path, offset, length in candidates:
        try:
            audio, rate = read_segment(path, offset, length)
        except (sf.LibsndfileError, RuntimeError, OSError) as exc:
            errors.append(f"{path}: {exc}")
            continue
        if not np.isfinite(audio).all():
            errors.append(f"{path}: NaN/inf samples")
            continue
        if rate != sample_rate:
            audio = soxr.resample(audio, rate, sample_rate).astype(np.float32)
        return np.ascontiguousarray(audio, dtype=np.float32)
    where = "; ".join(errors) or f"source {clip.source_path or '?'} and no snippet"
    raise MusaeError(
        f"Cannot read top clip audio ({where}).",
        "keep the audio collection where it was harvested, or export snippets with the "
        "feature database.",
    )


@dataclass(frozen=True)
class BaselineClip:
    """A baseline clip and the feature it was drawn from."""

    feature_id: int
    clip: TopClip

    @property
    def key(self) -> ClipKey:
        return clip_key(self.clip)


def sample_baseline(
    db: FeatureStore, feature_ids: Sequence[int], size: int = 64, seed: int = 0
) -> list[BaselineClip]:
    """Draw the job's baseline pool (see the module docstring)."""
    if size < 1:
        raise MusaeError(f"Baseline size must be >= 1, got {size}.", "use e.g. 64.")
    rng = random.Random(seed)
    order = list(dict.fromkeys(int(f) for f in feature_ids))
    rng.shuffle(order)
    chosen = order[: max(size, 1) * 2]
    per_feature: list[tuple[int, list[TopClip]]] = []
    for feature_id in chosen:
        clips = list(db.top_clips(feature_id))
        rng.shuffle(clips)
        if clips:
            per_feature.append((feature_id, clips))
    pool: list[BaselineClip] = []
    seen: set[ClipKey] = set()
    depth = max((len(c) for _, c in per_feature), default=0)
    for round_index in range(depth):
        for feature_id, clips in per_feature:
            if round_index >= len(clips) or len(pool) >= size:
                continue
            item = BaselineClip(feature_id, clips[round_index])
            if item.key not in seen:
                seen.add(item.key)
                pool.append(item)
    return pool


def baseline_for(
    pool: Sequence[BaselineClip], feature_id: int, top_clips: Sequence[TopClip]
) -> list[BaselineClip]:
    """The pool minus clips of this feature and clips shared with its top clips."""
    top_keys = {clip_key(c) for c in top_clips}
    return [b for b in pool if b.feature_id != feature_id and b.key not in top_keys]


def baseline_evidence(pool: Sequence[BaselineClip], used: int, seed: int) -> dict[str, Any]:
    return {
        "kind": "top clips of randomly drawn other features",
        "pool_size": len(pool),
        "used": used,
        "features": len({b.feature_id for b in pool}),
        "seed": seed,
    }


def finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None
