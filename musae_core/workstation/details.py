"""Everything the inspector shows for one feature, gathered off the UI thread in one call."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from musae_core.workstation.analysis import Spectrogram, spectrogram

log = logging.getLogger(__name__)


@dataclass
class ClipView:
    """A top clip with its cached snippet audio and spectrogram (None when not cached)."""

    clip: object  # musae_core.features.TopClip
    audio: np.ndarray | None = None  # (samples,) mono
    sample_rate: int = 32000
    spectrogram: Spectrogram | None = None

    @property
    def playable(self) -> bool:
        return self.audio is not None and self.audio.size > 0


@dataclass
class FeatureDetails:
    record: object  # musae_core.features.FeatureRecord
    labels: list = field(default_factory=list)
    clips: list[ClipView] = field(default_factory=list)
    neighbours: list[tuple[int, float, str]] = field(default_factory=list)  # id, cos, label


def feature_details(db, feature: int, max_clips: int = 10, sample_rate: int | None = None):
    """Read a feature's record, labels, top clips (+ snippet audio, spectrograms), neighbours."""
    from musae_core.audio.io import load_audio
    from musae_core.errors import MusaeError

    meta = db.meta() or {}
    rate = int(sample_rate or meta.get("sample_rate") or 32000)
    details = FeatureDetails(record=db.feature(feature), labels=list(db.labels(feature)))
    for clip in list(db.top_clips(feature))[:max_clips]:
        view = ClipView(clip=clip, sample_rate=rate)
        path = getattr(clip, "snippet_path", None)
        if path is not None:
            try:
                view.audio = load_audio(path, rate)
                view.spectrogram = spectrogram(view.audio, rate, n_bins=64)
            except MusaeError as exc:
                log.warning("clip %s of feature %s: %s", clip.rank, feature, exc)
        details.clips.append(view)
    ids = [(int(n), float(c)) for n, c in db.neighbours(feature)]
    labels = {row.id: row.best_label or "" for row in _rows_for(db, [n for n, _ in ids])}
    details.neighbours = [(n, c, labels.get(n, "")) for n, c in ids]
    return details


def _rows_for(db, ids: list[int]) -> list:
    """Labels for a few ids without scanning the whole table when the DB can avoid it."""
    if not ids:
        return []
    wanted = set(ids)
    return [row for row in db.query() if row.id in wanted]
