"""Score an SAE against per-frame concept truth: single features, k-sparse probes, splitting.

The generic seam between truth tables (the demo corpus's per-frame truth, DSP truth for any
audio folder) and scorecards/sweeps. Every choice (the best feature, its threshold, the k
latents of a sparse probe, probe weights and thresholds) is made on the *calibration* rows;
every reported number is measured on the other, held-out rows.

Per concept (a binary per-frame truth column):
- the best single feature by calibration AUROC (rank-based, all features at once), its held-out
  AUROC, and its held-out MCC and F1 at the threshold that maximised calibration MCC, beside the
  always-on baseline F1 = 2p / (1 + p);
- k-sparse probing as SAEBench does it: the top-k latents by mean difference (positive minus
  negative frames, absolute) on calibration rows, a logistic probe on them, held-out F1 at the
  calibration F1-optimal threshold, for each k;
- full probes on all SAE codes and on the residual stream (the ceiling); a concept is *carried*
  by the layer when the residual probe's held-out F1 >= ``CARRIED_F1``: a concept the layer does
  not carry is reported as such and not counted against the SAE;
- splitting: the smallest k whose sparse probe reaches 90 % of the full probe, and those k
  latents (the concept's feature group; the largest k scanned when none reaches it).
Tracking features: for every (feature, concept) pair a threshold (a share of the feature's
calibration maximum, from ``THRESHOLD_SHARES``) is chosen by calibration MCC; a feature tracks
the concept it scores best on calibration when its held-out MCC there is >= ``TRACKING_MCC``.

Speed: AUROC for all pairs is one sparse rank matrix product; probes are batched logistic
regressions (L-BFGS, torch, all concepts at once) fitted on at most ``max_fit_rows``
calibration rows drawn at random (seeded), so a 100k-frame, 3k-feature SAE with hundreds of
concepts scores in minutes on one core.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from musae_core.errors import MusaeError
from musae_core.features.concept_metrics import (
    auroc,
    auroc_matrix,
    best_threshold,
    detector_scores,
    mcc_from_counts,
)
from musae_core.features.concept_probes import moments, probe_f1, sparse_probe_f1
from musae_core.fileio import write_json_atomic

CARRIED_F1 = 0.8
# a probe must also beat the always-on detector by this much: a concept true on 95 % of frames
# gets always-on F1 0.97, which says nothing about what the layer carries
CARRIED_MARGIN = 0.1
TRACKING_MCC = 0.5
SPLIT_FRACTION = 0.9
THRESHOLD_SHARES = (0.0, 0.05, 0.1, 0.2, 0.3, 0.45, 0.6, 0.8)
SPLIT_KS = (1, 2, 3, 4, 5, 7, 10, 15, 20, 30, 50)


@dataclass
class ConceptTruth:
    """Per-frame binary truth for a set of clips, aligned to activation-store rows."""

    names: list[str]
    frames: np.ndarray  # bool (n_frames, n_concepts)
    clip_ids: np.ndarray  # int64 (n_frames,): the store's source_id of each row
    frame_index: np.ndarray  # int64 (n_frames,): frame within the clip
    frame_rate: float

    def __post_init__(self) -> None:
        self.frames = np.asarray(self.frames, dtype=bool)
        self.clip_ids = np.asarray(self.clip_ids, dtype=np.int64)
        self.frame_index = np.asarray(self.frame_index, dtype=np.int64)
        n = len(self.frames)
        if self.frames.ndim != 2 or self.frames.shape[1] != len(self.names):
            raise MusaeError(
                f"Concept truth has {self.frames.shape} frames for {len(self.names)} names.",
                "give frames as a (n_frames, n_concepts) array, one column per name.",
            )
        if len(self.clip_ids) != n or len(self.frame_index) != n:
            raise MusaeError(
                "Concept truth's clip_ids/frame_index do not match its frames in length.",
                "give one clip id and frame index per truth row.",
            )

    def save(self, path: str | Path) -> None:
        np.savez_compressed(
            Path(path),
            names=np.array(self.names, dtype=str),
            frames=np.packbits(self.frames, axis=0),
            n_frames=len(self.frames),
            clip_ids=self.clip_ids,
            frame_index=self.frame_index,
            frame_rate=self.frame_rate,
        )

    @classmethod
    def load(cls, path: str | Path) -> ConceptTruth:
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                n = int(z["n_frames"])
                frames = np.unpackbits(z["frames"], axis=0, count=n).astype(bool)
                return cls(
                    [str(s) for s in z["names"]],
                    frames,
                    z["clip_ids"],
                    z["frame_index"],
                    float(z["frame_rate"]),
                )
        except (OSError, KeyError, ValueError) as exc:
            raise MusaeError(
                f"{path} is not a concept-truth file ({exc}).",
                "write it with ConceptTruth.save (an .npz with names, frames, clip_ids, ...).",
            ) from exc

    def subset(self, clip_ids: Sequence[int] | np.ndarray) -> ConceptTruth:
        """The rows of the given clips, in their current order."""
        keep = np.isin(self.clip_ids, np.asarray(list(clip_ids), dtype=np.int64))
        return ConceptTruth(
            list(self.names),
            self.frames[keep],
            self.clip_ids[keep],
            self.frame_index[keep],
            self.frame_rate,
        )


@dataclass
class ConceptReport:
    rows: list[dict]
    tracking: dict[int, str]  # feature -> the concept it tracks (held-out MCC >= TRACKING_MCC)
    tracking_mcc: dict[int, float]
    settings: dict = field(default_factory=dict)

    def summary(self) -> dict:
        scored = [r for r in self.rows if r["status"] != "too few positives"]
        carried = [r for r in scored if r["carried"]]
        n = len(carried)
        single = sum(r["auroc"] >= 0.95 for r in carried)
        split = sum(
            r["features_to_90pct"] is not None and r["features_to_90pct"] <= 5 for r in carried
        )
        return {
            "concepts": len(self.rows), "scored": len(scored), "carried": n,
            "not_carried": [r["name"] for r in scored if not r["carried"]],
            "carried_single_auroc_0.95": single / n if n else 0.0,
            "carried_90pct_with_k_le_5": split / n if n else 0.0,
            "tracking_features": len(self.tracking),
            "tracking": {str(j): c for j, c in self.tracking.items()},
        }  # fmt: skip

    def to_json(self) -> dict:
        return {
            "rows": self.rows,
            "summary": self.summary(),
            "settings": self.settings,
            "tracking_mcc": {str(j): m for j, m in self.tracking_mcc.items()},
        }

    def to_markdown(self) -> str:
        ks = self.settings.get("ks", [])
        levels = any("level" in r for r in self.rows)
        head = (
            "| concept | "
            + ("level | " if levels else "")
            + "positives | carried | best feature | AUROC | MCC | F1 | "
            "always-on F1 | "
            + " | ".join(f"k={k}" for k in ks)
            + " | all codes | residual | k to 90 % |"
        )
        lines = [head, "|" + "---|" * (11 + levels + len(ks))]
        for r in self.rows:
            name = f"{r['name']} | {r.get('level', '-')}" if levels else r["name"]
            if r["status"] == "too few positives":
                lines.append(
                    f"| {name} | {r['positives']:.3f} | too few positives |" + " |" * (8 + len(ks))
                )
                continue
            kf = " | ".join(_num(r["k_sparse_f1"].get(str(k))) for k in ks)
            split = (r["carried"] and r["features_to_90pct"]) or "-"
            lines.append(
                f"| {name} | {r['positives']:.3f} | {'yes' if r['carried'] else 'no'} | "
                f"{r['best_feature']} | {r['auroc']:.2f} | {r['mcc']:.2f} | {r['f1']:.2f} | "
                f"{r['baseline_f1']:.2f} | {kf} | {_num(r['probe_f1_codes'])} | "
                f"{_num(r['probe_f1_resid'])} | {split} |"
            )
        return "\n".join(lines) + "\n"


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


# ---- the scorer ------------------------------------------------------------------------------


def score_concepts(
    codes,
    truth: ConceptTruth,
    calibration: np.ndarray,
    resid: np.ndarray | None = None,
    ks: tuple[int, ...] = (1, 2, 5, 20),
    min_positives: int = 20,
    max_fit_rows: int = 20_000,
    l2: float = 1e-3,
    seed: int = 0,
) -> ConceptReport:
    """Score ``codes`` (n_frames, d_sae; dense or scipy sparse), row-aligned with ``truth``,
    per concept (see the module docstring). ``calibration`` marks the rows used for every
    choice; the rest is held out."""
    started = time.perf_counter()
    x = sp.csr_matrix(codes, dtype=np.float32)
    cal_mask = np.asarray(calibration, dtype=bool)
    y = truth.frames
    if x.shape[0] != len(y) or len(cal_mask) != len(y):
        raise MusaeError(
            f"Codes ({x.shape[0]} rows), truth ({len(y)}) and calibration mask "
            f"({len(cal_mask)}) differ in length.",
            "encode exactly the truth's rows, in its order.",
        )
    if cal_mask.all() or not cal_mask.any():
        raise MusaeError(
            "Concept scoring needs both calibration and held-out rows.",
            "split the clips into calibration and held-out sets.",
        )
    cal, held = np.flatnonzero(cal_mask), np.flatnonzero(~cal_mask)
    enough = np.ones(y.shape[1], bool)
    for part in (cal, held):
        pos = y[part].sum(0)
        enough &= (pos >= min_positives) & (len(part) - pos >= min_positives)
    idx = np.flatnonzero(enough)
    ys = y[:, idx]
    fit = np.sort(np.random.default_rng(seed).permutation(cal)[:max_fit_rows])
    x_cal = x[cal]
    auc_cal = auroc_matrix(x_cal, ys[cal])
    best = auc_cal.argmax(axis=1)
    ycal = ys[cal].astype(np.float32)
    pos_mean = np.asarray(x_cal.T @ ycal) / np.maximum(ycal.sum(0), 1)  # (d, c)
    neg_mean = np.asarray(x_cal.T @ (1 - ycal)) / np.maximum((1 - ycal).sum(0), 1)
    mean_diff = pos_mean - neg_mean  # (d, c): its sign says which way a latent reads a concept
    order = np.argsort(-np.abs(mean_diff).T, axis=1, kind="stable")  # (c, d)

    scan = sorted({k for k in (*SPLIT_KS, *ks) if k <= max(ks) and k <= x.shape[1]})
    mean, std = moments(x[fit])
    csr = x.tocsr()
    parts = {"fit": csr[fit].tocsc(), "cal": csr[cal], "held": csr[held]}
    y_parts = {"fit": ys[fit], "cal": ys[cal], "held": ys[held]}
    sparse_f1 = (
        {k: sparse_probe_f1(parts, y_parts, order, k, l2, mean, std) for k in scan}
        if len(idx)
        else {}
    )
    codes_f1 = probe_f1(csr, ys, fit, cal, held, l2) if len(idx) else np.zeros(0)
    resid_f1 = None
    if resid is not None and len(idx):
        resid_f1 = probe_f1(np.asarray(resid, np.float32), ys, fit, cal, held, l2)

    x_csc = x.tocsc()
    rows = []
    for c, name in enumerate(truth.names):
        share = float(y[:, c].mean())
        baseline_f1 = 2 * share / (1 + share)
        base = {"name": name, "positives": share, "baseline_f1": baseline_f1}
        if not enough[c]:
            rows.append({**base, "status": "too few positives", "carried": False})
            continue
        i = int(np.searchsorted(idx, c))
        j = int(best[i])
        column = x_csc[:, j].toarray().ravel()
        thr = best_threshold(column[cal], ys[cal, i], "mcc")
        det = detector_scores(column[held], ys[held, i], thr)
        ceiling = float(resid_f1[i]) if resid_f1 is not None else float(codes_f1[i])
        carried = is_carried(ceiling, baseline_f1)
        to_90 = next((k for k in scan if sparse_f1[k][i] >= SPLIT_FRACTION * ceiling), None)
        rows.append({
            **base, "status": "carried" if carried else "not carried by the layer",
            "best_feature": j, "auroc": auroc(column[held], ys[held, i]),
            "auroc_calibration": float(auc_cal[i, j]), "threshold": thr,
            "mcc": det["mcc"], "f1": det["f1"], "precision": det["precision"],
            "recall": det["recall"],
            "k_sparse_f1": {str(k): float(sparse_f1[k][i]) for k in scan},
            "probe_f1_codes": float(codes_f1[i]),
            "probe_f1_resid": None if resid_f1 is None else float(resid_f1[i]),
            "carried": carried, "features_to_90pct": to_90,
            "group": [int(f) for f in order[i, : to_90 or scan[-1]]],
            "group_directions": [
                -1 if mean_diff[f, i] < 0 else 1 for f in order[i, : to_90 or scan[-1]]
            ],
            "group_reaches_90pct": to_90 is not None,
        })  # fmt: skip
    tracking, tracking_mcc = tracking_features(x_csc, ys, cal_mask, [truth.names[c] for c in idx])
    settings = {
        "ks": list(ks), "scan_ks": scan, "min_positives": min_positives,
        "max_fit_rows": max_fit_rows, "l2": l2, "seed": seed,
        "calibration_rows": len(cal), "heldout_rows": len(held),
        "calibration_clips": len(np.unique(truth.clip_ids[cal])),
        "heldout_clips": len(np.unique(truth.clip_ids[held])),
        "carried_f1": CARRIED_F1, "carried_margin": CARRIED_MARGIN,
        "tracking_mcc": TRACKING_MCC,
        "ceiling": "residual" if resid is not None else "codes",
        "seconds": round(time.perf_counter() - started, 1),
    }  # fmt: skip
    return ConceptReport(rows, tracking, tracking_mcc, settings)


def is_carried(ceiling_f1: float, baseline_f1: float) -> bool:
    """The layer carries a concept when the full probe's held-out F1 is >= ``CARRIED_F1`` and
    beats the always-on detector's F1 by ``CARRIED_MARGIN`` (chance-corrected)."""
    return ceiling_f1 >= CARRIED_F1 and ceiling_f1 >= baseline_f1 + CARRIED_MARGIN


def tracking_features(
    codes, y: np.ndarray, cal: np.ndarray, names: list[str]
) -> tuple[dict[int, str], dict[int, float]]:
    """Features whose held-out MCC on their best calibration concept is >= ``TRACKING_MCC``;
    each (feature, concept) threshold is a share of the feature's calibration maximum picked by
    calibration MCC."""
    if not names:
        return {}, {}
    codes = sp.csr_matrix(codes)
    scale = np.maximum(codes[np.flatnonzero(cal)].max(axis=0).toarray().ravel(), 1e-6)
    stats = {}
    for split, rows in (("cal", cal), ("held", ~cal)):
        csc = sp.csc_matrix(codes[np.flatnonzero(rows)])
        col = np.repeat(np.arange(codes.shape[1]), np.diff(csc.indptr))
        yf = y[rows].astype(np.float64)
        pos, n = yf.sum(0), rows.sum()
        mccs = []
        for share in THRESHOLD_SHARES:
            fired = sp.csc_matrix(
                ((csc.data > share * scale[col]).astype(np.float64), csc.indices, csc.indptr),
                shape=csc.shape,
            )
            tp = np.asarray(fired.T @ yf)  # (d, c)
            fires = np.asarray(fired.sum(axis=0)).ravel()[:, None]
            fp, fn = fires - tp, pos[None, :] - tp
            mccs.append(mcc_from_counts(tp, fp, fn, n - tp - fp - fn))
        stats[split] = np.stack(mccs)  # (thresholds, d, c)
    pick = stats["cal"].argmax(axis=0)  # (d, c)
    cal_best = np.take_along_axis(stats["cal"], pick[None], 0)[0]
    held_at = np.take_along_axis(stats["held"], pick[None], 0)[0]
    concept = cal_best.argmax(axis=1)
    held_mcc = held_at[np.arange(len(concept)), concept]
    keep = np.flatnonzero(held_mcc >= TRACKING_MCC)
    return (
        {int(j): names[int(concept[j])] for j in keep},
        {int(j): float(held_mcc[j]) for j in keep},
    )


def report_from_json(data: dict) -> ConceptReport:
    """A report read back from ``to_json`` output (for the DB writer and the app)."""
    tracking = {int(j): c for j, c in data["summary"]["tracking"].items()}
    mcc = {int(j): float(m) for j, m in data.get("tracking_mcc", {}).items()}
    return ConceptReport(data["rows"], tracking, mcc, data.get("settings", {}))


def save_report(report: ConceptReport, path: str | Path) -> None:
    write_json_atomic(Path(path), report.to_json())
