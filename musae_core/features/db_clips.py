"""Top clips (with per-frame timelines) and decoder neighbours of a FeatureDB.

Timelines are stored as zlib-compressed float16: a sparse feature's 10 s timeline takes a few
bytes, a dense one about 1 KB, so 30k features x 20 clips stays a modest file.
"""

from __future__ import annotations

import sqlite3
import zlib
from collections.abc import Iterable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from musae_core.errors import MusaeError
from musae_core.features.records import TopClip

TOP_BY = ("mean", "peak")


def encode_timeline(values: np.ndarray) -> bytes:
    """float16 + zlib: sparse timelines shrink to a few bytes, dense ones to ~1 KB per 10 s."""
    return zlib.compress(np.asarray(values, dtype="<f2").tobytes(), 1)


def decode_timeline(blob: bytes) -> list[float]:
    return np.frombuffer(zlib.decompress(blob), dtype="<f2").astype(np.float32).tolist()


def _check_by(by: str) -> None:
    if by not in TOP_BY:
        raise MusaeError(f"Unknown top-clip ranking {by!r}.", "use 'mean' or 'peak'.")


class ClipsMixin:
    """The top-clip/neighbour half of ``FeatureDB`` (uses its ``_tx``, ``_rows``, ``_check_id``)."""

    if TYPE_CHECKING:  # FeatureDB's plumbing, which this mixin uses
        path: Path

        @property
        def snippet_dir(self) -> Path: ...
        def _tx(self) -> AbstractContextManager[sqlite3.Connection]: ...
        def _rows(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]: ...
        def _check_id(self, feature_id: int) -> int: ...

    def _clip_row(self, feature_id: int, by: str, clip: TopClip) -> tuple:
        snippet = None
        if clip.snippet_path is not None:
            path = Path(clip.snippet_path)  # stored relative to the snippet folder when inside it
            inside = not path.is_absolute() or path.parent == self.snippet_dir
            snippet = path.name if inside else str(path)
        start, end = clip.best_window
        return (
            feature_id,
            by,
            int(clip.rank),
            int(clip.source_id),
            str(clip.source_path),
            int(clip.clip_index),
            float(clip.clip_start),
            float(clip.clip_seconds),
            float(clip.mean_activation),
            float(clip.peak_activation),
            float(clip.frame_rate),
            encode_timeline(np.asarray(clip.timeline, np.float32)),
            float(start),
            float(end),
            snippet,
        )

    def write_top_clips(self, feature_id: int, by: str, clips: Iterable[TopClip]) -> None:
        """Replace the top clips of one feature for one ranking."""
        self.write_many_top_clips([(feature_id, by, list(clips))])

    def write_many_top_clips(
        self, items: Iterable[tuple[int, str, list[TopClip]]], replace: bool = True
    ) -> None:
        """``write_top_clips`` for many features in one transaction (``replace=False`` only
        inserts, for a builder that writes each feature's clips in several batches)."""
        items = list(items)
        for _, by, _ in items:
            _check_by(by)
        with self._tx() as conn:
            for feature_id, by, clips in items:
                if replace:
                    conn.execute(
                        "DELETE FROM top_clips WHERE feature_id = ? AND by = ?",
                        (int(feature_id), by),
                    )
                conn.executemany(
                    "INSERT INTO top_clips VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [self._clip_row(int(feature_id), by, clip) for clip in clips],
                )

    def write_neighbours(self, feature_id: int, pairs: Iterable[tuple[int, float]]) -> None:
        self.write_many_neighbours({feature_id: list(pairs)})

    def write_many_neighbours(self, table: dict[int, list[tuple[int, float]]]) -> None:
        """Replace the decoder-cosine neighbours of many features in one transaction."""
        with self._tx() as conn:
            for feature_id, pairs in table.items():
                conn.execute("DELETE FROM neighbours WHERE feature_id = ?", (int(feature_id),))
                conn.executemany(
                    "INSERT INTO neighbours VALUES (?, ?, ?, ?)",
                    [
                        (int(feature_id), rank, int(o), float(c))
                        for rank, (o, c) in enumerate(pairs)
                    ],
                )

    # --- readers -----------------------------------------------------------------------------
    def top_clips(self, feature_id: int, by: str = "mean") -> list[TopClip]:
        """The feature's top clips by clip-mean or by peak activation, best first."""
        _check_by(by)
        feature_id = self._check_id(feature_id)
        rows = self._rows(
            "SELECT rank, source_id, source_path, clip_index, clip_start, clip_seconds, "
            "mean_activation, peak_activation, frame_rate, timeline, window_start, window_end, "
            "snippet FROM top_clips WHERE feature_id = ? AND by = ? ORDER BY rank",
            (feature_id, by),
        )
        clips = []
        for r in rows:
            snippet = None
            if r[12]:
                candidate = self.snippet_dir / r[12]
                snippet = candidate.resolve() if candidate.is_file() else None
            clips.append(
                TopClip(
                    rank=r[0],
                    source_id=r[1],
                    source_path=r[2],
                    clip_index=r[3],
                    clip_start=r[4],
                    clip_seconds=r[5],
                    mean_activation=r[6],
                    peak_activation=r[7],
                    frame_rate=r[8],
                    timeline=decode_timeline(r[9]),
                    best_window=(r[10], r[11]),
                    snippet_path=snippet,
                )
            )
        return clips

    def neighbours(self, feature_id: int) -> list[tuple[int, float]]:
        """Nearest features by decoder cosine, most similar first."""
        feature_id = self._check_id(feature_id)
        rows = self._rows(
            "SELECT other, cosine FROM neighbours WHERE feature_id = ? ORDER BY rank", (feature_id,)
        )
        return [(int(o), float(c)) for o, c in rows]
