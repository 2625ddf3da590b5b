"""Streaming per-feature statistics: counts, sums, maxima and fixed log-spaced histograms.

Activations arrive shard by shard as sparse (feature, value) pairs, so memory is a handful of
(d_sae,) vectors plus two (d_sae, bins) integer histograms, whatever the store size. Quantiles
and clip rates under a threshold relative to each feature's maximum are read off the
histograms at the end (log-interpolated within a bin: ~4% relative resolution).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from musae_core.features.records import FeatureStats, Histogram

LOW, HIGH, BINS = 1e-6, 1e6, 384
QUANTILES = (0.5, 0.9, 0.99)
DISPLAY_BINS = 32


def log_edges(low: float = LOW, high: float = HIGH, bins: int = BINS) -> np.ndarray:
    return np.geomspace(low, high, bins + 1)


@dataclass
class Thresholds:
    """Clip activation (absolute, or relative to the feature's max) and the filter flags."""

    clip_threshold: float | None = None  # absolute clip-mean threshold; None: use relative
    relative_threshold: float = 0.05  # clip-mean above this fraction of the feature's max
    rare: float = 0.01
    generic: float = 0.25

    def as_dict(self) -> dict:
        return dict(vars(self))


class FeatureAccumulator:
    """Running statistics over frames and clips for every feature of an SAE."""

    def __init__(self, d_sae: int, bins: int = BINS) -> None:
        self.d_sae = d_sae
        self.bins = bins
        self.edges = log_edges(bins=bins)
        self._inner = torch.from_numpy(self.edges[1:-1].astype(np.float32))
        self.active = torch.zeros(d_sae, dtype=torch.int64)
        self.sums = torch.zeros(d_sae, dtype=torch.float64)
        self.max = torch.zeros(d_sae, dtype=torch.float32)
        self.frame_hist = torch.zeros(d_sae * bins, dtype=torch.int32)
        self.clip_hist = torch.zeros(d_sae * bins, dtype=torch.int32)
        self.clips_over = torch.zeros(d_sae, dtype=torch.int64)  # for an absolute threshold
        self.rows = 0
        self.clips = 0

    def _bin(self, values: torch.Tensor) -> torch.Tensor:
        return torch.bucketize(values, self._inner)

    def add_frames(self, n_rows: int, feats: torch.Tensor, values: torch.Tensor) -> None:
        """Account ``n_rows`` frames whose non-zero codes are (feats, values)."""
        self.rows += n_rows
        if not len(feats):
            return
        self.active += torch.bincount(feats, minlength=self.d_sae)
        self.sums += torch.bincount(feats, weights=values.double(), minlength=self.d_sae)
        self.max.scatter_reduce_(0, feats, values.float(), reduce="amax")
        slot = feats * self.bins + self._bin(values.float())
        self.frame_hist.index_put_((slot,), torch.ones_like(slot, dtype=torch.int32), True)

    def add_clips(
        self, n_clips: int, feats: torch.Tensor, means: torch.Tensor, absolute: float | None
    ) -> None:
        """Account ``n_clips`` clips whose non-zero clip means are (feats, means)."""
        self.clips += n_clips
        if not len(feats):
            return
        slot = feats * self.bins + self._bin(means.float())
        self.clip_hist.index_put_((slot,), torch.ones_like(slot, dtype=torch.int32), True)
        if absolute is not None:
            self.clips_over += torch.bincount(feats[means > absolute], minlength=self.d_sae)

    def finish(self, thresholds: Thresholds, chunk: int = 4096) -> list[FeatureStats]:
        """Per-feature statistics and filter flags (histograms trimmed for display)."""
        active = self.active.numpy()
        maxima = self.max.numpy().astype(np.float64)
        frame_hist = self.frame_hist.view(self.d_sae, self.bins).numpy()
        clip_hist = self.clip_hist.view(self.d_sae, self.bins).numpy()
        if thresholds.clip_threshold is not None:
            over = self.clips_over.numpy().astype(np.float64)
        else:
            over = np.zeros(self.d_sae)
            for lo in range(0, self.d_sae, chunk):
                hi = min(lo + chunk, self.d_sae)
                cut = thresholds.relative_threshold * maxima[lo:hi]
                over[lo:hi] = count_above(clip_hist[lo:hi], self.edges, cut)
        quant = np.zeros((self.d_sae, len(QUANTILES)))
        for lo in range(0, self.d_sae, chunk):
            hi = min(lo + chunk, self.d_sae)
            quant[lo:hi] = hist_quantiles(frame_hist[lo:hi], self.edges, QUANTILES)
        quant = np.minimum(quant, maxima[:, None])
        rows, clips = max(self.rows, 1), max(self.clips, 1)
        rate = over / clips
        stats = []
        for j in range(self.d_sae):
            dead = bool(active[j] == 0)
            stats.append(
                FeatureStats(
                    id=j,
                    frequency=float(active[j] / rows),
                    clip_rate=float(rate[j]),
                    max_activation=float(maxima[j]),
                    mean_activation=float(self.sums[j] / active[j]) if active[j] else 0.0,
                    quantiles={
                        f"q{round(q * 100)}": float(v)
                        for q, v in zip(QUANTILES, quant[j], strict=True)
                    },
                    histogram=display_histogram(frame_hist[j], self.edges),
                    clip_histogram=display_histogram(clip_hist[j], self.edges),
                    dead=dead,
                    rare=bool(not dead and rate[j] < thresholds.rare),
                    generic=bool(rate[j] > thresholds.generic),
                )
            )
        return stats


def _log_position(edges: np.ndarray, index: np.ndarray, fraction: np.ndarray) -> np.ndarray:
    lo, hi = np.log(edges[index]), np.log(edges[index + 1])
    return np.exp(lo + fraction * (hi - lo))


def hist_quantiles(hist: np.ndarray, edges: np.ndarray, qs: tuple[float, ...]) -> np.ndarray:
    """(features, len(qs)) quantiles of the values binned in ``hist`` (0 where empty)."""
    cum = hist.cumsum(axis=1, dtype=np.int64)
    total = cum[:, -1]
    out = np.zeros((len(hist), len(qs)))
    for i, q in enumerate(qs):
        target = q * total
        index = np.minimum((cum < target[:, None]).sum(axis=1), hist.shape[1] - 1)
        before = np.where(index > 0, cum[np.arange(len(hist)), np.maximum(index - 1, 0)], 0)
        in_bin = np.maximum(hist[np.arange(len(hist)), index], 1)
        fraction = np.clip((target - before) / in_bin, 0.0, 1.0)
        out[:, i] = np.where(total > 0, _log_position(edges, index, fraction), 0.0)
    return out


def count_above(hist: np.ndarray, edges: np.ndarray, cut: np.ndarray) -> np.ndarray:
    """How many binned values exceed ``cut`` (per row), interpolating inside the cut's bin."""
    safe = np.clip(cut, edges[0], edges[-1])
    index = np.clip(np.searchsorted(edges, safe, side="right") - 1, 0, hist.shape[1] - 1)
    rows = np.arange(len(hist))
    after = np.cumsum(hist[:, ::-1], axis=1, dtype=np.int64)[:, ::-1]  # values in bins >= i
    above_bin = np.where(
        index + 1 < hist.shape[1], after[rows, np.minimum(index + 1, hist.shape[1] - 1)], 0
    )
    lo, hi = np.log(edges[index]), np.log(edges[index + 1])
    share = np.clip((hi - np.log(safe)) / (hi - lo), 0.0, 1.0)
    counted = above_bin + share * hist[rows, index]
    return np.where(cut <= 0, after[:, 0], counted)


def display_histogram(counts: np.ndarray, edges: np.ndarray, bins: int = DISPLAY_BINS) -> Histogram:
    """The non-empty range of a fine histogram merged into at most ``bins`` bins."""
    nonzero = np.flatnonzero(counts)
    if not len(nonzero):
        return [], []
    first, last = int(nonzero[0]), int(nonzero[-1]) + 1
    group = max(1, -(-(last - first) // bins))
    stop = first + group * (-(-(last - first) // group))
    padded = np.zeros(stop - first, dtype=np.int64)
    padded[: last - first] = counts[first:last]
    merged = padded.reshape(-1, group).sum(axis=1)
    idx = np.minimum(np.arange(first, stop + 1, group), len(edges) - 1)
    return [float(f"{e:.4g}") for e in edges[idx]], [int(c) for c in merged]
