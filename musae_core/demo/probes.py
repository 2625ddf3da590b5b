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
from musae_core.demo.recovery import clip_rows
from musae_core.errors import MusaeError
from musae_core.harvest.store import ActivationStore
from musae_core.jobs import CancelToken, ProgressFn, no_progress
from musae_core.sae.architectures import SparseAutoencoder

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
    labels: Sequence[str],
    train: np.ndarray,
    groups: np.ndarray | None = None,
    l2_grid: Sequence[float] = L2_GRID,
) -> float:
    """Held-out accuracy of a linear probe fitted on the ``train`` rows (standardised on them).

    The L2 penalty is chosen on a quarter of the training ``groups`` (clips) held back, so a
    wide input (thousands of SAE codes) is not scored low for overfitting a fixed penalty."""
    labels = np.asarray(labels)
    mean, std = x[train].mean(axis=0), x[train].std(axis=0) + 1e-6
    z = ((x - mean) / std).astype(np.float32)
    inner = None if groups is None else np.asarray(groups)[train]
    l2 = _pick_l2(z[train], labels[train], inner, l2_grid)
    head = fit_head(z[train], list(labels[train]), l2=l2)
    return float(np.mean(np.asarray(head.predict(z[~train])) == labels[~train]))


def _pick_l2(z: np.ndarray, labels: np.ndarray, groups: np.ndarray | None,
             grid: Sequence[float]) -> float:  # fmt: skip
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
        out[factor] = {"residual": probe_accuracy(residual, labels, train, groups),
                       "sae": probe_accuracy(codes, labels, train, groups),
                       "chance": chance}  # fmt: skip
    return out


def score_probes(
    store: ActivationStore,
    layer: int,
    sae: SparseAutoencoder,
    records_by_source: dict[int, dict],
    calibration: set[int],
    evaluation: set[int],
    window_seconds: float = 0.5,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> dict:
    """Probe every factor in ``PROBED`` on the store's clips (calibration -> evaluation)."""
    progress = progress or no_progress
    frames = max(1, round(window_seconds * store.frame_rate))
    residual, codes, records, heldout, groups = [], [], [], [], []
    wanted = calibration | evaluation
    for done, (source, rows) in enumerate(clip_rows(store, layer, wanted, cancel), start=1):
        with torch.inference_mode():
            z = sae.encode(rows.to(sae.W_enc.dtype)).float().numpy()
        r = window_means(rows.float().numpy(), frames)
        residual.append(r)
        codes.append(window_means(z, frames))
        records += [records_by_source[source]] * len(r)
        heldout += [source in evaluation] * len(r)
        groups += [source] * len(r)
        progress(done, len(wanted))
    factors = probes_from_windows(np.concatenate(residual), np.concatenate(codes), records,
                                  np.array(heldout), np.array(groups))  # fmt: skip
    return {"factors": factors, "window_seconds": window_seconds, "windows": len(records),
            "heldout_windows": int(np.sum(heldout))}  # fmt: skip
