"""Everything the inspector shows for one feature, gathered off the UI thread.

Two steps, so a click answers fast: ``feature_details(..., with_audio=False)`` reads the
record, labels (with their evidence sentences), top clips, neighbours and concept groups from
the DB (a few ms); ``load_clip_audio`` then decodes each cached snippet (Opus: ~30 ms per
10 s clip) and its spectrogram, one clip at a time and from an LRU cache when the clip was
shown before.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from musae_core.features.db import FeatureDB
from musae_core.features.evidence import evidence_sentence
from musae_core.features.records import FeatureRecord, Label, TopClip
from musae_core.workstation.analysis import Spectrogram, spectrogram
from musae_core.workstation.concepts import FeatureConcepts, feature_concepts

if TYPE_CHECKING:
    from musae_core.features.db import FeatureDB
    from musae_core.features.records import FeatureRecord, Label, TopClip
    from musae_core.jobs import CancelToken

log = logging.getLogger(__name__)
_ClipKey = tuple[str, int]  # (snippet path, sample rate)
_Decoded = tuple[np.ndarray, Spectrogram]  # (audio, spectrogram)
CLIP_CACHE_SIZE = 32  # decoded snippets kept (10 s at 32 kHz: 1.3 MB each)
SPECTROGRAM = {"n_fft": 1024, "hop": 512, "n_bins": 64}  # a clip row is ~100 px tall


@dataclass
class ClipView:
    """A top clip with its cached snippet audio and spectrogram (None when not cached)."""

    clip: TopClip
    audio: np.ndarray | None = None  # (samples,) mono
    sample_rate: int = 32000
    spectrogram: Spectrogram | None = None
    position: int = 1  # 1-based place in the feature's ranking, as shown ("#1" is the best)

    @property
    def playable(self) -> bool:
        return self.audio is not None and self.audio.size > 0

    @property
    def has_snippet(self) -> bool:
        return self.clip.snippet_path is not None


@dataclass
class FeatureDetails:
    record: FeatureRecord
    labels: list[Label] = field(default_factory=list)
    clips: list[ClipView] = field(default_factory=list)
    neighbours: list[tuple[int, float, str]] = field(default_factory=list)  # id, cos, label
    sentences: list[str] = field(default_factory=list)  # one evidence sentence per label
    concepts: FeatureConcepts = field(default_factory=FeatureConcepts)  # its concept groups

    @property
    def has_clap(self) -> bool:
        """Whether any label was validated with CLAP (else the CLAP column is empty)."""
        return any(lab.clap_score is not None for lab in self.labels)


class _ClipCache:
    """Thread-safe LRU of decoded snippets: (path, rate) -> (audio, spectrogram)."""

    def __init__(self, size: int) -> None:
        self.size, self._lock = size, threading.Lock()
        self._items: OrderedDict[_ClipKey, _Decoded] = OrderedDict()

    def get(self, key: _ClipKey) -> _Decoded | None:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        return None

    def put(self, key: _ClipKey, value: _Decoded) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


CLIP_CACHE = _ClipCache(CLIP_CACHE_SIZE)


def shown_first(labels: list[Label], record: FeatureRecord) -> list[Label]:
    """The shown (best) label first, from the labeller that wrote it, then the rest by score:
    the inspector and the exported pages list a feature's labels in this order."""

    def shown(lab: Label) -> bool:
        return lab.text == record.best_label and lab.source == record.label_source

    return sorted(
        labels, key=lambda lab: (not shown(lab), lab.text != record.best_label, -lab.score)
    )


def feature_details(
    db: FeatureDB,
    feature: int,
    max_clips: int = 10,
    sample_rate: int | None = None,
    with_audio: bool = True,
) -> FeatureDetails:
    """Read a feature's record, labels, top clips and neighbours (+ snippet audio and
    spectrograms unless ``with_audio`` is False: then call ``load_clip_audio``)."""
    meta = db.meta() or {}
    rate = int(sample_rate or meta.get("sample_rate") or 32000)
    record = db.feature(feature)
    labels = shown_first(list(db.labels(feature)), record)
    details = FeatureDetails(record=record, labels=labels)
    details.sentences = [evidence_sentence(lab.source, lab.text, lab.evidence) for lab in labels]
    clips = list(db.top_clips(feature))[:max_clips]
    details.clips = [
        ClipView(clip=c, sample_rate=rate, position=i + 1) for i, c in enumerate(clips)
    ]
    ids = [(int(n), float(c)) for n, c in db.neighbours(feature)]
    names = {row.id: row.best_label or "" for row in db.query(ids=[n for n, _ in ids])}
    details.neighbours = [(n, c, names.get(n, "")) for n, c in ids]
    details.concepts = feature_concepts(db, feature)
    if with_audio:
        load_clip_audio(details.clips)
    return details


def load_clip_audio(
    views: list[ClipView],
    cancel: CancelToken | None = None,
    on_clip: Callable[[int, ClipView], None] | None = None,
) -> list[ClipView]:
    """Decode each view's snippet and spectrogram in rank order (cached); ``on_clip(i, view)``
    after each, so the first clip is playable before the last is decoded."""
    from musae_core.audio.io import load_audio
    from musae_core.errors import MusaeError

    for i, view in enumerate(views):
        if cancel is not None:
            cancel.raise_if_cancelled()
        path = view.clip.snippet_path
        if path is None:
            continue
        key = (str(Path(path)), view.sample_rate)
        cached = CLIP_CACHE.get(key)
        if cached is None:
            try:
                audio = load_audio(path, view.sample_rate)
            except MusaeError as exc:
                log.warning("clip %s: %s", view.position, exc)
                continue
            cached = (audio, spectrogram(audio, view.sample_rate, **SPECTROGRAM))
            CLIP_CACHE.put(key, cached)
        view.audio, view.spectrogram = cached
        if on_clip is not None:
            on_clip(i, view)
    return views
