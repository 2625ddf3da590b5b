"""Score every concept at the level its truth lives: the one concept-scoring path.

The demo scorecard (``musae demo score``) and the sweep (``musae sweep``) both call
``score_concept_levels``; it wraps ``concepts.score_concepts`` three times:

- **frame** level: every concept, every row (the per-frame table);
- **clip** level: the concepts whose truth is constant over each clip (instrument, mode, tempo
  band, register, dynamics, drums on/off), scored on one pooled row per clip;
- **window** level: the same clip-level concepts on pooled 0.5-s windows (more rows, shorter
  context; reported beside the clip level).

Why pooling: a TopK code (k of thousands of latents active per frame) is sparse in time; a
feature that fires on every drum hit is a perfect drums-on detector per clip, yet its frame
AUROC is only ~0.5 + coverage / 2. Pooling: each feature's activation is averaged (mean) or
maxed over the clip/window; which of the two a feature uses is chosen on calibration rows only
(the one whose best calibration AUROC over the concepts is further from 0.5). Residual rows are
mean-pooled for the full probe (the ceiling).

The *judged* report (``ConceptLevels.judged``) takes each clip-level concept's row from the clip
level and every other concept's row from the frame level; its tracking features are the clip
level's tracking features for clip-level concepts and the frame level's for the others (a
feature that tracks at both keeps the higher held-out MCC). Every choice stays on calibration
rows; calibration and held-out rows are split by clip, so pooled rows inherit the split.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from musae_core.features.concept_metrics import auroc_matrix
from musae_core.features.concepts import ConceptReport, ConceptTruth, score_concepts

WINDOW_SECONDS = 0.5
POOLED_MIN_POSITIVES = 5  # 100 held-out clips hold ~8 of each of 12 instruments


def clip_level_mask(truth: ConceptTruth) -> np.ndarray:
    """Per concept: its truth is constant within every clip (and varies between clips)."""
    order = np.argsort(truth.clip_ids, kind="stable")
    ids = truth.clip_ids[order]
    y = truth.frames[order].astype(np.int8)
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    lo = np.minimum.reduceat(y, starts, axis=0)
    hi = np.maximum.reduceat(y, starts, axis=0)
    constant = (lo == hi).all(axis=0)
    varies = lo.min(axis=0) != lo.max(axis=0)
    return constant & varies


def group_rows(truth: ConceptTruth, window_frames: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Group index per row (clips, or windows of ``window_frames`` frames within clips) and
    the key (clip id, window) of each group, groups in first-seen order."""
    window = truth.frame_index // window_frames if window_frames else np.zeros_like(truth.clip_ids)
    keys = np.stack([truth.clip_ids, window], axis=1)
    uniq, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    rank = np.empty(len(uniq), np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(uniq))
    return rank[inverse.ravel()], uniq[np.argsort(first, kind="stable")]


def pool(x: sp.csr_matrix, groups: np.ndarray, n_groups: int, how: str) -> sp.csr_matrix:
    """Per group, the mean or the max of each column of the non-negative sparse ``x``."""
    coo = x.tocoo()
    if how == "mean":
        counts = np.bincount(groups, minlength=n_groups).astype(np.float32)
        g = sp.csr_matrix(
            (1.0 / counts[groups], (groups, np.arange(len(groups)))), shape=(n_groups, x.shape[0])
        )
        return (g @ x).tocsr().astype(np.float32)
    d = x.shape[1]
    keys = groups[coo.row].astype(np.int64) * d + coo.col
    order = np.argsort(keys, kind="stable")
    keys, data = keys[order], coo.data[order]
    uniq, start = np.unique(keys, return_index=True)
    top = np.maximum.reduceat(data, start) if len(data) else data
    return sp.csr_matrix((top, (uniq // d, uniq % d)), shape=(n_groups, d), dtype=np.float32)


def choose_pooling(
    means: sp.csr_matrix, maxes: sp.csr_matrix, y: np.ndarray, cal: np.ndarray
) -> np.ndarray:
    """Per feature True where max pooling separates the concepts better than mean pooling on
    the calibration groups (best |AUROC - 0.5| over the concepts)."""
    rows = np.flatnonzero(cal)
    strength = [np.abs(auroc_matrix(m[rows], y[rows]) - 0.5).max(axis=0) for m in (means, maxes)]
    return strength[1] > strength[0]


@dataclass
class PooledRows:
    codes: sp.csr_matrix
    resid: np.ndarray | None
    truth: ConceptTruth
    calibration: np.ndarray
    use_max: np.ndarray  # per feature: max pooling (else mean)


def pooled_rows(
    codes,
    truth: ConceptTruth,
    calibration: np.ndarray,
    resid,
    columns: np.ndarray,
    window_frames: int | None,
) -> PooledRows:
    """One row per clip (``window_frames`` None) or per window, for the truth ``columns``."""
    x = sp.csr_matrix(codes, dtype=np.float32)
    groups, keys = group_rows(truth, window_frames)
    n = len(keys)
    first = np.full(n, -1, np.int64)
    first[groups[::-1]] = np.arange(len(groups))[::-1]  # the first row of every group
    y = truth.frames[first][:, columns]
    cal = np.asarray(calibration, bool)[first]
    means, maxes = pool(x, groups, n, "mean"), pool(x, groups, n, "max")
    use_max = choose_pooling(means, maxes, y, cal)
    pick = sp.diags(use_max.astype(np.float32))
    pooled = (means @ sp.diags(1.0 - use_max.astype(np.float32)) + maxes @ pick).tocsr()
    r = None
    if resid is not None:
        resid = np.asarray(resid, np.float32)
        counts = np.bincount(groups, minlength=n)[:, None]
        r = np.zeros((n, resid.shape[1]), np.float64)
        np.add.at(r, groups, resid)
        r = (r / counts).astype(np.float32)
    names = [truth.names[c] for c in columns]
    t = ConceptTruth(names, y, keys[:, 0], keys[:, 1], truth.frame_rate / (window_frames or 1))
    return PooledRows(pooled, r, t, cal, use_max)


@dataclass
class ConceptLevels:
    frame: ConceptReport
    clip: ConceptReport | None
    window: ConceptReport | None
    clip_level: list[str]

    @property
    def judged(self) -> ConceptReport:
        """Each concept at the level its truth lives (see the module docstring)."""
        clip_rows = {r["name"]: r for r in (self.clip.rows if self.clip else [])}
        rows = []
        for r in self.frame.rows:
            pooled = clip_rows.get(r["name"])
            rows.append({**pooled, "level": "clip"} if pooled else {**r, "level": "frame"})
        tracking: dict[int, str] = {}
        mcc: dict[int, float] = {}
        levels = [(self.frame, lambda c: c not in clip_rows)]
        if self.clip:
            levels.append((self.clip, lambda c: True))
        for report, keep in levels:
            for j, concept in report.tracking.items():
                m = report.tracking_mcc[j]
                if keep(concept) and m > mcc.get(j, -1.0):
                    tracking[j], mcc[j] = concept, m
        settings = {
            **self.frame.settings,
            "judged": "clip-level concepts at clip level, the others at frame level",
            "clip_level_concepts": self.clip_level,
            "levels": self.level_json(),
        }
        return ConceptReport(rows, tracking, mcc, settings)

    def level_json(self) -> dict:
        frame: dict[str, Any] = {"summary": self.frame.summary(), "settings": self.frame.settings}
        out: dict[str, dict[str, Any]] = {"frame": frame}
        for name, rep in (("clip", self.clip), ("window", self.window)):
            if rep is not None:
                out[name] = rep.to_json()
        out["frame"]["rows"] = self.frame.rows
        return out


def score_concept_levels(
    codes,
    truth: ConceptTruth,
    calibration: np.ndarray,
    resid: np.ndarray | None = None,
    ks: tuple[int, ...] = (1, 2, 5, 20),
    min_positives: int = 20,
    window_seconds: float | None = WINDOW_SECONDS,
    pooled_min_positives: int = POOLED_MIN_POSITIVES,
    seed: int = 0,
) -> ConceptLevels:
    """The frame, clip and window reports of ``codes`` against ``truth`` (rows aligned;
    ``calibration`` marks rows of calibration clips)."""
    frame = score_concepts(
        codes, truth, calibration, resid, ks=ks, min_positives=min_positives, seed=seed
    )
    columns = np.flatnonzero(clip_level_mask(truth))
    names = [truth.names[c] for c in columns]
    clip = window = None

    def pooled(frames: int | None, min_pos: int, **level: object) -> ConceptReport:
        """Pool the clip-level columns per clip (``frames`` None) or per window, then score."""
        p = pooled_rows(codes, truth, calibration, resid, columns, frames)
        report = score_concepts(
            p.codes, p.truth, p.calibration, p.resid, ks=ks, min_positives=min_pos, seed=seed
        )
        report.settings.update(level, max_pooled_features=int(p.use_max.sum()))
        return report

    if len(columns):
        clip = pooled(None, pooled_min_positives, level="clip")
        if window_seconds:
            frames = max(1, round(window_seconds * truth.frame_rate))
            window = pooled(frames, min_positives, level="window", window_seconds=window_seconds)
    frame.settings["level"] = "frame"
    return ConceptLevels(frame, clip, window, names)
