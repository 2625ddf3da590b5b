"""Second pass of ``analyze``: per-frame timelines of the chosen top clips, shard by shard.

The first pass only keeps clip ids and scores (bounded memory); its sparse codes were spilled
to disk, so here each shard's codes are read back, the (clip, feature) pairs that made a top
list are picked out with one ``isin`` and turned into timelines, best windows and snippet cuts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from musae_core.features.cliptable import ClipTable, ShardClips
from musae_core.features.records import TopClip
from musae_core.features.snippets import SnippetRequest, snippet_name, snippet_span
from musae_core.features.topclips import best_window

RANKINGS = ("mean", "peak")


@dataclass
class TopEntries:
    """Every (feature, ranking, rank, clip) chosen by the first pass."""

    feat: np.ndarray
    by: np.ndarray  # index into RANKINGS
    rank: np.ndarray
    clip: np.ndarray

    def select(self, mask: np.ndarray) -> TopEntries:
        return TopEntries(self.feat[mask], self.by[mask], self.rank[mask], self.clip[mask])


@dataclass
class ClipContext:
    """What turning timelines into TopClips needs to know about the store."""

    table: ClipTable
    sources: dict[int, str]
    frame_rate: float
    window_frames: int
    snippet_seconds: float
    d_sae: int
    snippet_format: str = "flac"


def save_codes(path: Path, rows: torch.Tensor, feats: torch.Tensor, vals: torch.Tensor) -> None:
    """Spill one shard's sparse codes (int32 rows/features, float32 values)."""
    with open(path, "wb") as handle:
        np.savez(handle, rows=rows.int().numpy(), feats=feats.int().numpy(), vals=vals.numpy())


def load_codes(path: Path) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    with np.load(path) as data:
        return (
            torch.from_numpy(data["rows"]).long(),
            torch.from_numpy(data["feats"]).long(),
            torch.from_numpy(data["vals"]),
        )


def _timelines(
    entries: TopEntries, codes: tuple, clips: ShardClips, ctx: ClipContext
) -> dict[int, np.ndarray]:
    rows, feats, vals = codes
    gid_of_row = clips.global_ids[clips.local_of_row]
    keys = gid_of_row[rows] * ctx.d_sae + feats
    needed = torch.unique(torch.from_numpy(entries.clip * ctx.d_sae + entries.feat))
    slot = torch.searchsorted(needed, keys).clamp_(max=len(needed) - 1)  # faster than isin
    mask = needed[slot] == keys
    keys, rows, vals = keys[mask], rows[mask], vals[mask]
    order = torch.argsort(keys, stable=True)
    keys, rows, vals = keys[order], rows[order].numpy(), vals[order].numpy()
    unique, counts = torch.unique_consecutive(keys, return_counts=True)
    out: dict[int, np.ndarray] = {}
    start = 0
    for key, count in zip(unique.tolist(), counts.tolist(), strict=True):
        clip = key // ctx.d_sae
        timeline = np.zeros(ctx.table.frames[clip], dtype=np.float32)
        timeline[clips.frame_of_row[rows[start : start + count]]] = vals[start : start + count]
        out[key] = timeline
        start += count
    return out


def shard_top_clips(
    entries: TopEntries, codes: tuple, clips: ShardClips, ctx: ClipContext
) -> tuple[list[tuple[int, str, list[TopClip]]], dict[str, SnippetRequest]]:
    """TopClips (grouped per feature and ranking) of the entries whose clip is in this shard."""
    timelines = _timelines(entries, codes, clips, ctx)
    grouped: dict[tuple[int, str], list[TopClip]] = {}
    requests: dict[str, SnippetRequest] = {}
    rate, table = ctx.frame_rate, ctx.table
    for feat, by, rank, clip in zip(
        entries.feat.tolist(),
        entries.by.tolist(),
        entries.rank.tolist(),
        entries.clip.tolist(),
        strict=True,
    ):
        timeline = timelines.get(clip * ctx.d_sae + feat)
        if timeline is None:
            continue
        frames = len(timeline)
        first, last = best_window(timeline, ctx.window_frames)
        window = (first / rate, last / rate)
        source_id = table.source_id[clip]
        source = ctx.sources.get(source_id, "")
        snippet = None
        if ctx.snippet_seconds > 0 and source:
            span = snippet_span(window, frames / rate, ctx.snippet_seconds)
            name = snippet_name(
                source_id,
                table.clip_index[clip],
                round(span[0] * rate),
                round(span[1] * rate),
                ctx.snippet_format,
            )
            requests[name] = SnippetRequest(
                source, table.clip_start[clip] + span[0], span[1] - span[0]
            )
            snippet = Path(name)
        grouped.setdefault((feat, RANKINGS[by]), []).append(
            TopClip(
                rank=rank,
                source_path=source,
                clip_start=table.clip_start[clip],
                clip_seconds=frames / rate,
                mean_activation=float(timeline.sum(dtype=np.float64)) / frames,
                peak_activation=float(timeline.max()),
                timeline=timeline,
                frame_rate=rate,
                best_window=window,
                snippet_path=snippet,
                source_id=source_id,
                clip_index=table.clip_index[clip],
            )
        )
    return [(f, by, clips) for (f, by), clips in grouped.items()], requests
