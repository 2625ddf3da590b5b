"""Per-frame truth from clip seeds, the fine-concept DSP labeller and its steering judge."""

from __future__ import annotations

import random

import numpy as np
import pytest
import soundfile as sf

from musae_core.demo.concept_score import align_truth, score_concept_labels
from musae_core.demo.factors import sample_factors
from musae_core.demo.frame_truth import clip_concepts
from musae_core.errors import MusaeError
from musae_core.features.concepts import ConceptTruth
from musae_core.features.records import TopClip
from musae_core.labeling.fine_concepts import (
    FineConceptMethod,
    concept_of_label,
    concept_strength,
    label_text,
)

RATE, FPS = 16_000, 50.0


def record(index: int, seed: int = 0) -> dict:
    factors = sample_factors(random.Random(f"{seed}:{index}"))
    return {"clip": f"{index:06d}", **factors.to_dict()}


def test_clip_truth_follows_the_composed_notes():
    for index in range(6):
        r = record(index)
        cols = clip_concepts(r, 0, 10.0, 500, FPS)
        assert cols[f"instrument={r['instrument']}"].all()
        assert ("drum=kick" in cols) == r["drums"]
        scale = {0, 2, 4, 5, 7, 9, 11} if r["mode"] == "major" else {0, 2, 3, 5, 7, 8, 10}
        names = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
        for name in (k.split("=")[1] for k in cols if k.startswith("pitch_class=")):
            assert (names.index(name) - r["tonic"]) % 12 in scale  # only the key's notes
        assert 0.02 < cols["onset"].mean() < 0.6
        assert any(k.startswith("chord=") for k in cols)


def test_truth_from_the_wrong_seed_is_refused():
    with pytest.raises(MusaeError, match="does not re-derive"):
        clip_concepts(record(3, seed=1), 0, 10.0, 500, FPS)


def tone(midi: int, seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return 0.3 * np.sin(2 * np.pi * 440 * 2 ** ((midi - 69) / 12) * t).astype(np.float32)


def test_labeller_names_the_note_where_the_feature_fires(tmp_path):
    # 10 s: A3 everywhere except C#4 in seconds 2-4 and 6-8; the feature fires on the C#4.
    audio = tone(57, 10.0)
    timeline = np.zeros(500, np.float32)
    for lo, hi in ((2, 4), (6, 8)):
        audio[lo * RATE : hi * RATE] = tone(61, hi - lo)
        timeline[int(lo * FPS) + 2 : int(hi * FPS) - 2] = 1.0
    sf.write(tmp_path / "clip.wav", audio, RATE)
    clip = TopClip(
        rank=1,
        source_path=str(tmp_path / "clip.wav"),
        clip_start=0.0,
        clip_seconds=10.0,
        mean_activation=0.4,
        peak_activation=1.0,
        timeline=list(timeline),
        frame_rate=FPS,
    )
    labels = FineConceptMethod().label(7, [clip], [], None)
    concepts = [lab.evidence["concept"] for lab in labels]
    assert concepts and concepts[0] in ("pitch=61", "pitch_class=C#")
    assert labels[0].evidence["p_firing"] > 0.8 > 0.2 > labels[0].evidence["p_silent"]
    assert concept_of_label(labels[0].text) == concepts[0]
    assert concept_strength(audio, RATE, "pitch_class=C#") > concept_strength(
        tone(57, 10.0), RATE, "pitch_class=C#"
    )


def test_label_texts_map_back_to_their_concepts():
    for concept in ("pitch=61", "pitch=20", "pitch_class=Eb", "onset", "drum=hat", "drum=kick"):
        assert concept_of_label(label_text(concept)) == concept
    assert label_text("pitch=61") == "note C#4" and concept_of_label("warm pad") is None


def test_align_truth_reorders_rows_and_refuses_missing_ones():
    frames = np.array([[1, 0], [0, 1], [1, 1]], bool)
    truth = ConceptTruth(["a", "b"], frames, [5, 5, 6], [0, 1, 0], FPS)
    back = align_truth(truth, np.array([6, 5]), np.array([0, 1]))
    assert back.frames.tolist() == [[True, True], [False, True]]
    with pytest.raises(MusaeError, match="lacks 1"):
        align_truth(truth, np.array([7]), np.array([0]))


class FakeDB:
    def __init__(self, labels: dict[int, list], shown: dict[int, str]) -> None:
        self._labels, self._shown = labels, shown

    def labels(self, j):
        return self._labels.get(j, [])

    def query(self):
        from types import SimpleNamespace

        return [SimpleNamespace(id=j, best_label=t) for j, t in self._shown.items()]


def test_concept_label_check_uses_each_concepts_labeller():
    from types import SimpleNamespace as L

    db = FakeDB(
        {
            1: [
                L(source="fine-dsp", text="note C#4", score=0.6),
                L(source="fine-dsp", text="note onsets", score=0.3),
            ],
            2: [
                L(source="fine-dsp", text="note onsets", score=0.6),
                L(source="fine-dsp", text="kick drum", score=0.4),
            ],
            3: [L(source="classifier", text="piano", score=1.0)],
        },
        {1: "warm", 2: "bright", 3: "piano"},
    )
    out = score_concept_labels(db, {1: "pitch=61", 2: "drum=kick", 3: "instrument=piano"})
    assert out["named_share"] == pytest.approx(2 / 3)  # 2's top label is onsets, not kick
    assert out["any_label_share"] == pytest.approx(1.0)


def test_scorecard_shows_the_concept_section_against_its_targets():
    from musae_core.demo.scorecard_doc import scorecard_markdown
    from musae_core.features.concepts import ConceptReport

    row = {
        "name": "pitch_class=C#",
        "positives": 0.2,
        "baseline_f1": 0.33,
        "status": "carried",
        "best_feature": 4,
        "auroc": 0.97,
        "mcc": 0.71,
        "f1": 0.75,
        "k_sparse_f1": {"1": 0.75, "2": 0.8, "5": 0.9, "20": 0.92},
        "probe_f1_codes": 0.9,
        "probe_f1_resid": 0.93,
        "carried": True,
        "features_to_90pct": 5,
        "group": [4, 1],
    }
    settings = {
        "ks": [1, 2, 5, 20],
        "min_positives": 20,
        "calibration_rows": 100,
        "heldout_rows": 50,
        "calibration_clips": 2,
        "heldout_clips": 1,
        "carried_f1": 0.8,
        "tracking_mcc": 0.5,
    }
    section = ConceptReport([row], {4: "pitch_class=C#"}, {4: 0.71}, settings).to_json()
    card = {
        "recovery": {"values": [], "recovered_f1_0.7": 0,
                     "settings": {"evaluation_clips": 1, "calibration_clips": 2,
                                  "smooth_seconds": 0.5}},
        "labels": {"tracking_features": 0, "shown_label_accuracy": 0.0,
                   "any_label_accuracy": 0.0},
        "steering": {"fraction_steering": 0.0, "features": []},
        "concepts": {**section, "truth_source": "test truth"},
        "concept_labels": {"named_share": 1.0, "any_label_share": 1.0},
        "concept_steering": {"fraction_steering": 0.5, "evaluated": 2,
                             "settings": {"prompts": ["a", "b"], "duration": 3.0,
                                          "alphas": [4.0, 8.0], "p_threshold": 0.05}},
        "prompt_following": None, "spec": {"steering": {"p_threshold": 0.05}},
        "sae": {"layer": 2, "d_sae": 8, "k": 2},
    }  # fmt: skip
    text = scorecard_markdown(card)
    assert "single feature at AUROC >= 0.95: **100%**" in text
    assert "90 % of the full probe with k <= 5: **100%**" in text
    assert "tracking a concept (held-out MCC >= 0.5): **1**" in text
    assert "at alpha 4, 8, smallest p x 2 < 0.05" in text and "**50%** (target >= 50 %" in text
    assert "2 features: tracking features, best first" in text
    assert "| pitch_class=C# | 0.200 | yes | 4 | 0.97 | 0.71 | 0.75 | 0.33 | 0.75 |" in text
    assert "Prompt following" not in text  # the section was skipped


def test_concept_rows_keep_every_strideth_frame_with_its_index():
    import torch

    from musae_core.demo.concept_score import ConceptRows

    rows = ConceptRows(stride=2)
    acts = np.arange(10, dtype=np.float32)[:, None] * np.eye(1, 3, dtype=np.float32)
    rows.add(7, torch.arange(20, dtype=torch.float32).reshape(10, 2), acts)
    assert rows.frame_index().tolist() == [0, 2, 4, 6, 8] and rows.clip_ids().tolist() == [7] * 5
    assert rows.codes[0].toarray()[:, 0].tolist() == [0, 2, 4, 6, 8]
    assert rows.resid[0][:, 0].tolist() == [0, 4, 8, 12, 16]
    assert rows.frames_by_source()[7].tolist() == [0, 2, 4, 6, 8]


def test_truth_lag_matches_row_t_with_audio_frame_t_minus_lag():
    from musae_core.demo.frame_truth import corpus_truth
    from musae_core.demo.truth_table import is_factor

    r = record(3)
    frames = {3: np.arange(500)}
    plain = corpus_truth({3: r}, frames, 0, 10.0, FPS, [3], lag=0)
    lagged = corpus_truth({3: r}, frames, 0, 10.0, FPS, [3], lag=1)
    assert plain.names == lagged.names
    assert (lagged.frames[1:] == plain.frames[:-1]).all()
    factor = np.array([is_factor(n) for n in lagged.names])
    # before the clip starts nothing sounds, but the clip's factors hold from its first row
    assert not lagged.frames[0, ~factor].any()
    assert (lagged.frames[0, factor] == plain.frames[0, factor]).all()


def test_steering_falls_back_to_each_carried_concepts_best_feature():
    from musae_core.demo.steering_score import steering_targets
    from musae_core.features.concepts import ConceptReport

    rows = [
        {"name": "drums=true", "carried": True, "best_feature": 9, "auroc": 0.7},
        {"name": "pitch=61", "carried": False, "best_feature": 3, "auroc": 0.6},
        {"name": "onset", "status": "too few positives", "carried": False},
    ]
    targets, strength, source = steering_targets(ConceptReport(rows, {}, {}, {}))
    assert targets == {9: "drums=true"} and strength == {9: 0.7} and "best single" in source
    tracked = ConceptReport(rows, {3: "pitch=61"}, {3: 0.8}, {})
    assert steering_targets(tracked)[0] == {3: "pitch=61"}
