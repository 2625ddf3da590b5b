"""One concept-scoring path at the level each concept's truth lives (features.concept_levels):
the scorecard and the sweep agree, and a sparse clip-level detector is found at clip level."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from musae_core.demo.concept_score import ConceptRows, score_concept_section
from musae_core.features.concept_levels import clip_level_mask, pool, score_concept_levels
from musae_core.features.concepts import ConceptTruth, is_carried
from musae_core.features.sweep import concept_summary

CLIPS, FRAMES, D_SAE, D_MODEL = 60, 50, 48, 8
DRUM_FEATURE, NOTE_FEATURE = 7, 9


def synthetic(seed: int = 0):
    """Clips with drums (half) or without; in a drum clip feature 7 fires on every 8th frame
    (a hit) only, so it is a perfect clip-level detector and a poor frame-level one. 'note'
    is a frame-level concept that feature 9 fires on exactly; 'melody' is true on 97 % of
    frames (always-on F1 0.98): not carried, however well a probe reads it."""
    rng = np.random.default_rng(seed)
    n = CLIPS * FRAMES
    clip_ids = np.repeat(np.arange(CLIPS), FRAMES)
    frame = np.tile(np.arange(FRAMES), CLIPS)
    drums_clip = np.arange(CLIPS) % 2 == 0
    drums = drums_clip[clip_ids]
    hit = drums & (frame % 8 == 0)
    note = rng.random(n) < 0.2
    melody = rng.random(n) < 0.97
    codes = np.zeros((n, D_SAE), np.float32)
    for r in range(n):
        cols = rng.choice([c for c in range(D_SAE) if c not in (DRUM_FEATURE, NOTE_FEATURE)], 3)
        codes[r, cols] = rng.exponential(1.0, 3)
    codes[hit, DRUM_FEATURE] = 1 + rng.random(hit.sum())
    codes[note, NOTE_FEATURE] = 1 + rng.random(note.sum())
    resid = rng.normal(size=(n, D_MODEL)).astype(np.float32) * 0.3
    resid[:, 0] += drums * 2
    resid[:, 1] += note * 3
    resid[:, 2] += melody * 3
    truth = ConceptTruth(
        ["drums=true", "drums=false", "note", "melody"],
        np.stack([drums, ~drums, note, melody], 1),
        clip_ids,
        frame,
        50.0,
    )
    calibration = clip_ids % 3 != 2
    return codes, truth, calibration, resid


def test_clip_level_concepts_and_pooling():
    _, truth, _, _ = synthetic()
    assert clip_level_mask(truth).tolist() == [True, True, False, False]
    x = sp.csr_matrix(np.array([[1, 0], [3, 2], [0, 5]], np.float32))
    groups = np.array([0, 0, 1])
    assert pool(x, groups, 2, "mean").toarray().tolist() == [[2, 1], [0, 5]]
    assert pool(x, groups, 2, "max").toarray().tolist() == [[3, 2], [0, 5]]


def test_sparse_clip_detector_is_found_at_clip_level_not_per_frame():
    codes, truth, cal, resid = synthetic()
    levels = score_concept_levels(
        codes, truth, cal, resid, window_seconds=None, pooled_min_positives=3
    )
    frame = {r["name"]: r for r in levels.frame.rows}
    assert frame["drums=true"]["best_feature"] == DRUM_FEATURE
    assert frame["drums=true"]["auroc"] < 0.65  # fires on 1 of 8 drum frames: 0.5 + 1/16
    judged = {r["name"]: r for r in levels.judged.rows}
    assert judged["drums=true"]["level"] == "clip"
    assert judged["drums=true"]["best_feature"] == DRUM_FEATURE
    assert judged["drums=true"]["auroc"] == 1.0 and judged["drums=true"]["mcc"] == 1.0
    assert judged["note"]["level"] == "frame" and judged["note"]["auroc"] > 0.99
    assert levels.judged.tracking[DRUM_FEATURE] in ("drums=true", "drums=false")
    assert levels.judged.tracking[NOTE_FEATURE] == "note"
    # melody: the probe reads it, but so does always-on: not carried
    assert judged["melody"]["probe_f1_resid"] > 0.95 and not judged["melody"]["carried"]
    assert judged["drums=true"]["carried"] and judged["note"]["carried"]


def test_carried_is_chance_corrected():
    assert is_carried(0.9, 0.67)
    assert not is_carried(0.98, 0.97)  # a concept true on 94 % of frames
    assert not is_carried(0.79, 0.1)


class _Rows:
    """The piece of sweep_data.LayerRows that sweep._concepts reads."""

    def __init__(self, resid, truth):
        self.acts = torch.from_numpy(resid)
        self.keys = {
            (int(c), int(f)): i
            for i, (c, f) in enumerate(zip(truth.clip_ids, truth.frame_index, strict=True))
        }

    def rows_for(self, clip_ids, frames):
        return np.array(
            [self.keys[(int(c), int(f))] for c, f in zip(clip_ids, frames, strict=True)]
        )


def test_scorecard_and_sweep_score_the_same_rows_the_same_way(monkeypatch, tmp_path):
    """The two scorers that disagreed (4 vs 8 carried, 8 vs 0 tracking) are one path now:
    the same codes, truth and split give the same judged summary through both."""
    import musae_core.features.sweep as sweep

    codes, truth, _, resid = synthetic()
    holdout_every = 3  # the sweep's split: source s is held out when s % 3 == 2
    calibration = ~sweep.is_heldout_source(truth.clip_ids, holdout_every)
    rows = ConceptRows(stride=1)
    for c in range(CLIPS):
        sel = truth.clip_ids == c
        rows.add(c, torch.from_numpy(resid[sel]), codes[sel])
    card = score_concept_section(rows, truth, set(np.unique(truth.clip_ids[calibration])))

    monkeypatch.setattr(sweep, "encode_rows", lambda sae, acts: codes)
    spec = sweep.SweepSpec(layers=[0], holdout_every=holdout_every)
    table = sweep._concepts(None, _Rows(resid, truth), truth, spec, tmp_path)
    s = card.summary()
    assert table["carried"] == s["carried"] == 3  # drums on / off, note; not melody
    assert table["tracking_features"] == s["tracking_features"]
    # drums=false has no feature that fires on it (only one that is silent on it)
    assert table["single_auroc_0.95"] == s["carried_single_auroc_0.95"] == 2 / 3
    rows_by_name = {r["name"]: r for r in card.rows}
    on, off = rows_by_name["drums=true"], rows_by_name["drums=false"]
    way_on = dict(zip(on["group"], on["group_directions"], strict=True))
    way_off = dict(zip(off["group"], off["group_directions"], strict=True))
    assert way_on[DRUM_FEATURE] == 1 and way_off[DRUM_FEATURE] == -1  # read both ways
    assert all(way_off[j] == -way_on[j] for j in way_on.keys() & way_off.keys())
    assert table["split_k_le_5"] == s["carried_90pct_with_k_le_5"]
    assert (tmp_path / "concepts.json").exists()
    assert concept_summary(codes, truth, calibration, resid) == table


def test_fine_concepts_are_told_from_factor_values():
    from musae_core.demo.concept_score import is_fine_concept

    assert all(
        map(
            is_fine_concept,
            ("pitch=61", "pitch_class=C#", "onset", "drum=kick", "chord=C:maj", "melody"),
        )
    )
    assert not any(map(is_fine_concept, ("drums=true", "tempo_band=fast", "instrument=piano")))
