"""Linear probes: does the layer carry a factor at all, and do the SAE's codes keep it?

Recovery (``recovery.py``) looks for one feature per factor value. When none is found, either
the model is the limit (its residual stream does not carry the factor linearly) or the
dictionary is (the stream carries it, the SAE spreads it over many features). A probe on each
side tells which: multinomial logistic regression on window-averaged activations, fitted on
the calibration clips, scored on the held-out clips, beside the majority-class chance level.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch

from musae_core.demo.factor_classifier import FACTORS, factor_labels, fit_head
from musae_core.errors import MusaeError

PROBED = (*FACTORS, "key")  # key: tonic and mode together (24 classes)
L2_GRID = (1e-3, 1e-2, 1e-1)


def window_means(acts: np.ndarray, frames: int) -> np.ndarray:
    """(frames, d) -> (windows, d): means of consecutive ``frames``-frame windows; a clip
    shorter than one window gives its overall mean, a shorter tail is dropped."""
    n = len(acts) // frames
    if n == 0:
        return acts.mean(axis=0, keepdims=True)
    return acts[: n * frames].reshape(n, frames, -1).mean(axis=1)


def probe_accuracy(
    x: np.ndarray,
    labels: Sequence[str] | np.ndarray,
    train: np.ndarray,
    groups: np.ndarray | None = None,
    l2_grid: Sequence[float] = L2_GRID,
) -> float:
    """Held-out accuracy of a linear probe fitted on the ``train`` rows (standardised on them).

    The L2 penalty is chosen on a quarter of the training ``groups`` (clips) held back, so a
    wide input (thousands of SAE codes) is not scored low for overfitting a fixed penalty."""
    y = np.asarray(labels)
    mean, std = x[train].mean(axis=0), x[train].std(axis=0) + 1e-6
    z = ((x - mean) / std).astype(np.float32)
    inner = None if groups is None else np.asarray(groups)[train]
    l2 = _pick_l2(z[train], y[train], inner, l2_grid)
    head = fit_head(z[train], list(y[train]), l2=l2)
    return float(np.mean(np.asarray(head.predict(z[~train])) == y[~train]))


def _pick_l2(
    z: np.ndarray, labels: np.ndarray, groups: np.ndarray | None, grid: Sequence[float]
) -> float:
    if len(grid) == 1:
        return grid[0]
    groups = np.arange(len(z)) if groups is None else groups
    ids = np.unique(groups)
    held = np.isin(groups, np.random.default_rng(0).permutation(ids)[: max(1, len(ids) // 4)])
    if held.all() or not held.any():
        return grid[len(grid) // 2]
    scores = []
    for l2 in grid:
        head = fit_head(z[~held], list(labels[~held]), l2=l2)
        scores.append(np.mean(np.asarray(head.predict(z[held])) == labels[held]))
    return grid[int(np.argmax(scores))]


def probes_from_windows(
    residual: np.ndarray,
    codes: np.ndarray,
    records: Sequence[dict],
    heldout: np.ndarray,
    groups: np.ndarray | None = None,
    factors: Iterable[str] = PROBED,
) -> dict[str, dict[str, float]]:
    """Per factor: probe accuracy on the residual windows and on the SAE-code windows, and the
    chance level: the held-out share of the training windows' commonest value (what always
    guessing it scores). ``groups`` (a clip id per window) keeps the penalty choice honest."""
    heldout = np.asarray(heldout, dtype=bool)
    if heldout.all() or not heldout.any():
        raise MusaeError(
            "Probes need windows from both training and held-out clips.",
            "score a store harvested from both splits (musae demo features does).",
        )
    train = ~heldout
    out = {}
    for factor in factors:
        labels = np.array([factor_labels(r, factor) for r in records])
        values, counts = np.unique(labels[train], return_counts=True)
        chance = float(np.mean(labels[heldout] == values[counts.argmax()]))
        out[factor] = {
            "residual": probe_accuracy(residual, labels, train, groups),
            "sae": probe_accuracy(codes, labels, train, groups),
            "chance": chance,
        }
    return out


class ProbeWindows:
    """Window means of each clip's residual rows and SAE codes, collected while recovery reads
    the store (``score_recovery(on_clip=windows.add)``), then probed per factor."""

    def __init__(self, window_seconds: float, frame_rate: float) -> None:
        self.window_seconds = window_seconds
        self.frames = max(1, round(window_seconds * frame_rate))
        self._residual: list[np.ndarray] = []
        self._codes: list[np.ndarray] = []
        self._sources: list[int] = []

    def add(self, source: int, rows: torch.Tensor, acts: np.ndarray) -> None:
        residual = window_means(rows.float().numpy(), self.frames)
        self._residual.append(residual)
        self._codes.append(window_means(acts, self.frames))
        self._sources += [source] * len(residual)

    def probes(self, records_by_source: dict[int, dict], evaluation: set[int]) -> dict:
        """Probe every factor in ``PROBED``: fitted on the other clips, scored on ``evaluation``."""
        groups = np.array(self._sources)
        heldout = np.isin(groups, list(evaluation))
        factors = probes_from_windows(
            np.concatenate(self._residual),
            np.concatenate(self._codes),
            [records_by_source[s] for s in groups],
            heldout,
            groups,
        )
        return {
            "factors": factors,
            "window_seconds": self.window_seconds,
            "windows": len(groups),
            "heldout_windows": int(heldout.sum()),
        }
