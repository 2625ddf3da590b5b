"""Concept scoring (musae_core.features.concepts) on synthetic data whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from musae_core.errors import MusaeError
from musae_core.features.concept_metrics import auroc, auroc_matrix, best_threshold
from musae_core.features.concepts import ConceptTruth, report_from_json, score_concepts

CLIPS, FRAMES, D_SAE, D_MODEL = 40, 100, 64, 16
PLANTED, SPLIT = 5, (10, 11, 12)


def synthetic(seed: int = 0):
    """Noise codes plus: feature 5 fires exactly on 'planted'; 'split' frames fire one of
    features 10-12 each; 'uncarried' is independent of everything; 'rare' has 5 positives.
    The residual carries 'planted' and 'split' in two dimensions."""
    rng = np.random.default_rng(seed)
    n = CLIPS * FRAMES
    codes = np.zeros((n, D_SAE), np.float32)
    for r in range(n):
        cols = rng.choice([c for c in range(D_SAE) if c != PLANTED and c not in SPLIT], 4)
        codes[r, cols] = rng.exponential(1.0, 4)
    planted = rng.random(n) < 0.3
    split = rng.random(n) < 0.3
    codes[planted, PLANTED] = 2 + rng.random(planted.sum())
    part = rng.integers(0, 3, n)
    for i, f in enumerate(SPLIT):
        on = split & (part == i)
        codes[on, f] = 2 + rng.random(on.sum())
    uncarried = rng.random(n) < 0.4
    rare = np.zeros(n, bool)
    rare[rng.choice(n, 5, replace=False)] = True
    resid = rng.normal(size=(n, D_MODEL)).astype(np.float32) * 0.3
    resid[:, 0] += planted * 3
    resid[:, 1] += split * 3
    frames = np.stack([planted, split, uncarried, rare], axis=1)
    clip_ids = np.repeat(np.arange(CLIPS), FRAMES)
    truth = ConceptTruth(
        ["planted", "split", "uncarried", "rare"],
        frames,
        clip_ids,
        np.tile(np.arange(FRAMES), CLIPS),
        50.0,
    )
    calibration = clip_ids < CLIPS // 2
    return codes, truth, calibration, resid


@pytest.fixture(scope="module")
def scored():
    codes, truth, cal, resid = synthetic()
    return score_concepts(codes, truth, cal, resid), (codes, truth, cal, resid)


def test_metrics_agree_with_definitions():
    rng = np.random.default_rng(1)
    x = np.where(rng.random((500, 6)) < 0.3, rng.exponential(1, (500, 6)), 0).astype(np.float32)
    x[:, 5] = -x[:, 5]  # negative values are ranked too
    y = rng.random((500, 2)) < 0.4
    dense = np.array([[auroc(x[:, j], y[:, c]) for j in range(6)] for c in range(2)])
    assert np.allclose(auroc_matrix(x, y), dense)
    scores = np.array([0.1, 0.4, 0.35, 0.8])
    assert best_threshold(scores, np.array([0, 1, 0, 1], bool), "mcc") == pytest.approx(0.4)


def test_planted_feature_is_found_and_scores_near_one(scored):
    report, _ = scored
    row = {r["name"]: r for r in report.rows}["planted"]
    assert row["best_feature"] == PLANTED
    assert row["auroc"] > 0.99 and row["mcc"] > 0.95 and row["f1"] > 0.95
    assert row["baseline_f1"] == pytest.approx(2 * row["positives"] / (1 + row["positives"]))
    assert row["carried"] and row["features_to_90pct"] == 1
    assert report.tracking[PLANTED] == "planted"


def test_split_concept_needs_three_features(scored):
    report, _ = scored
    row = {r["name"]: r for r in report.rows}["split"]
    assert row["carried"] and row["probe_f1_resid"] > 0.95
    assert row["k_sparse_f1"]["1"] < 0.7  # one part of three: recall ~1/3
    assert row["k_sparse_f1"]["3"] > 0.9
    assert row["features_to_90pct"] == 3
    assert set(row["group"]) == set(SPLIT)
    assert row["auroc"] < 0.8  # no single feature covers it


def test_uncarried_and_rare_concepts_are_reported_not_counted(scored):
    report, _ = scored
    rows = {r["name"]: r for r in report.rows}
    assert not rows["uncarried"]["carried"]
    assert rows["uncarried"]["status"] == "not carried by the layer"
    assert rows["rare"]["status"] == "too few positives"
    summary = report.summary()
    assert summary["carried"] == 2 and summary["not_carried"] == ["uncarried"]
    assert summary["carried_single_auroc_0.95"] == pytest.approx(0.5)  # planted yes, split no
    assert summary["carried_90pct_with_k_le_5"] == pytest.approx(1.0)
    assert "| planted |" in report.to_markdown()
    again = report_from_json(report.to_json())
    assert again.tracking == report.tracking and again.summary() == summary


def test_heldout_labels_never_steer_calibration_choices(scored):
    report, (codes, truth, cal, resid) = scored
    frames = truth.frames.copy()
    rng = np.random.default_rng(7)
    held = np.flatnonzero(~cal)
    frames[held] = frames[rng.permutation(held)]  # shuffle held-out truth rows
    shuffled = ConceptTruth(truth.names, frames, truth.clip_ids, truth.frame_index, 50.0)
    other = score_concepts(codes, shuffled, cal, resid)
    for a, b in zip(report.rows, other.rows, strict=True):
        if a["status"] == "too few positives":
            continue
        assert (a["best_feature"], a["threshold"], a["group"][:3]) == (
            b["best_feature"],
            b["threshold"],
            b["group"][:3],
        )
        assert a["auroc_calibration"] == b["auroc_calibration"]
    planted = {r["name"]: r for r in other.rows}["planted"]
    assert planted["auroc"] < 0.7  # held-out numbers did change: the truth there is noise


def test_truth_round_trips_and_subsets(tmp_path):
    _, truth, _, _ = synthetic()
    truth.save(tmp_path / "truth.npz")
    back = ConceptTruth.load(tmp_path / "truth.npz")
    assert back.names == truth.names and np.array_equal(back.frames, truth.frames)
    assert np.array_equal(back.clip_ids, truth.clip_ids) and back.frame_rate == 50.0
    part = back.subset([3, 4])
    assert len(part.frames) == 2 * FRAMES and set(part.clip_ids) == {3, 4}
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(MusaeError, match=r"bad\.npz"):
        ConceptTruth.load(tmp_path / "bad.npz")


def test_mismatched_rows_are_a_clear_error():
    codes, truth, cal, _ = synthetic()
    with pytest.raises(MusaeError, match="differ in length"):
        score_concepts(codes[:-1], truth, cal)
