"""Top-N clips per feature, kept incrementally across shards, and the best window of a timeline.

The selector holds at most N (clip, score) candidates per feature in three flat arrays; each
shard's candidates that beat a feature's current N-th score are merged with one stable sort,
so the cost per shard is a sort of the candidates, not a Python loop over features.
"""

from __future__ import annotations

import numpy as np
import torch


class TopSelector:
    """The ``n`` highest-scoring clips of every feature under one ranking."""

    def __init__(self, d_sae: int, n: int) -> None:
        self.d_sae = d_sae
        self.n = n
        self.feats = torch.zeros(0, dtype=torch.int64)
        self.scores = torch.zeros(0, dtype=torch.float32)
        self.clips = torch.zeros(0, dtype=torch.int64)
        self.floor = torch.full((d_sae,), -float("inf"))  # score to beat per feature

    def update(self, feats: torch.Tensor, scores: torch.Tensor, clips: torch.Tensor) -> None:
        """Offer candidates (feature, score, global clip id); ties keep the earlier clip."""
        keep = scores > self.floor[feats]
        if not bool(keep.any()):
            return
        feats = torch.cat([self.feats, feats[keep]])
        scores = torch.cat([self.scores, scores[keep].float()])
        clips = torch.cat([self.clips, clips[keep]])
        order = torch.argsort(-scores, stable=True)
        order = order[torch.argsort(feats[order], stable=True)]
        feats, scores, clips = feats[order], scores[order], clips[order]
        starts = torch.searchsorted(feats, feats, right=False)
        rank = torch.arange(len(feats)) - starts
        chosen = rank < self.n
        self.feats, self.scores, self.clips = feats[chosen], scores[chosen], clips[chosen]
        full = rank == self.n - 1
        self.floor[self.feats[full[chosen]]] = self.scores[full[chosen]]

    def ranked(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(feature, rank starting at 1, clip, score) of every kept candidate."""
        feats = self.feats.numpy()
        starts = np.searchsorted(feats, feats, side="left")
        rank = np.arange(len(feats)) - starts + 1
        return feats, rank, self.clips.numpy(), self.scores.numpy()


def best_window(timeline: np.ndarray, width: int) -> tuple[int, int]:
    """Frames [start, end) of the ``width``-frame window with the largest activation sum."""
    frames = len(timeline)
    if width <= 0 or frames <= width:
        return 0, frames
    cumulative = np.concatenate([[0.0], np.cumsum(timeline, dtype=np.float64)])
    sums = cumulative[width:] - cumulative[:-width]
    start = int(np.argmax(sums))
    return start, start + width


def clip_aggregates(
    clip_of_row: torch.Tensor,
    frames_per_clip: torch.Tensor,
    rows: torch.Tensor,
    feats: torch.Tensor,
    values: torch.Tensor,
    d_sae: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per (local clip, feature) with any activation: clip, feature, clip mean, clip peak."""
    key = clip_of_row[rows] * d_sae + feats
    unique, inverse = torch.unique(key, return_inverse=True)
    sums = torch.zeros(len(unique), dtype=torch.float64).index_add_(0, inverse, values.double())
    peaks = torch.zeros(len(unique)).scatter_reduce_(0, inverse, values, reduce="amax")
    clip, feat = unique // d_sae, unique % d_sae
    means = (sums / frames_per_clip[clip].double()).float()
    return clip, feat, means, peaks
