"""Threshold-free and chance-corrected detector metrics for concept scoring (``concepts.py``).

AUROC is rank-based with ties averaged; for a sparse code matrix only the non-zero entries are
ranked (zeros share one rank), so every (concept, feature) pair costs one sparse product.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.stats import rankdata


def mcc_from_counts(tp, fp, fn, tn) -> np.ndarray:
    """Matthews correlation (0 where undefined, e.g. a detector that never or always fires)."""
    tp, fp, fn, tn = (np.asarray(a, dtype=np.float64) for a in (tp, fp, fn, tn))
    denom = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return np.where(denom > 0, (tp * tn - fp * fn) / np.maximum(denom, 1e-300), 0.0)


def f1_from_counts(tp, fp, fn) -> np.ndarray:
    tp, fp, fn = (np.asarray(a, dtype=np.float64) for a in (tp, fp, fn))
    return np.where(tp > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)


def auroc(scores: np.ndarray, y: np.ndarray) -> float:
    """Rank-based AUROC (ties averaged); 0.5 when a class is empty."""
    y = np.asarray(y, dtype=bool)
    npos, nneg = int(y.sum()), int((~y).sum())
    if npos == 0 or nneg == 0:
        return 0.5
    ranks = rankdata(scores)
    return float((ranks[y].sum() - npos * (npos + 1) / 2) / (npos * nneg))


def auroc_matrix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """AUROC of every column of ``x`` (n, d) for every truth column of ``y`` (n, c): (c, d).

    Ranks are computed once per feature; zeros (most SAE codes) tie at one shared rank, so only
    the non-zero entries are ranked, and rank sums for all concepts are one sparse product."""
    y = np.asarray(y, dtype=bool)
    n = x.shape[0]
    csc = sp.csc_matrix(x)
    delta = np.empty(csc.nnz, dtype=np.float64)
    zero_rank = np.empty(x.shape[1], dtype=np.float64)
    for j in range(x.shape[1]):
        lo, hi = csc.indptr[j], csc.indptr[j + 1]
        v = csc.data[lo:hi]
        n_neg, n_zero = int((v < 0).sum()), n - (hi - lo)
        zero_rank[j] = n_neg + (n_zero + 1) / 2
        delta[lo:hi] = rankdata(v) + np.where(v > 0, n_zero, 0) - zero_rank[j]
    ranks = sp.csc_matrix((delta, csc.indices, csc.indptr), shape=csc.shape)
    yf = y.astype(np.float64)
    npos = yf.sum(axis=0)
    nneg = n - npos
    rank_sums = np.asarray((ranks.T @ yf).T) + npos[:, None] * zero_rank[None, :]
    auc = (rank_sums - (npos * (npos + 1) / 2)[:, None]) / np.maximum(npos * nneg, 1)[:, None]
    auc[(npos == 0) | (nneg == 0)] = 0.5
    return auc


def best_threshold(scores: np.ndarray, y: np.ndarray, metric: str = "mcc") -> float:
    """The threshold t (fire when score >= t) maximising ``metric`` ('mcc' or 'f1') on these
    rows; every distinct score is a candidate."""
    y = np.asarray(y, dtype=bool)
    order = np.argsort(-scores, kind="stable")
    s, t = scores[order], y[order]
    tp = np.cumsum(t)
    fp = np.cumsum(~t)
    last = np.r_[s[1:] != s[:-1], True]  # cut after the last row of each distinct value
    tp, fp, cut = tp[last], fp[last], s[last]
    pos = int(y.sum())
    fn, tn = pos - tp, len(y) - pos - fp
    value = mcc_from_counts(tp, fp, fn, tn) if metric == "mcc" else f1_from_counts(tp, fp, fn)
    return float(cut[int(np.argmax(value))])


def detector_scores(scores: np.ndarray, y: np.ndarray, threshold: float) -> dict[str, float]:
    y = np.asarray(y, dtype=bool)
    fired = scores >= threshold
    tp, fp = int((fired & y).sum()), int((fired & ~y).sum())
    fn, tn = int((~fired & y).sum()), int((~fired & ~y).sum())
    return {
        "mcc": float(mcc_from_counts(tp, fp, fn, tn)),
        "f1": float(f1_from_counts(tp, fp, fn)),
        "precision": tp / max(tp + fp, 1),
        "recall": tp / max(tp + fn, 1),
    }
