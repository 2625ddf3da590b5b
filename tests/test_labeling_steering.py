"""Steering evaluation: paired takes, the label's measure, and the stored verdict."""

from __future__ import annotations

import numpy as np
import pytest
from test_labeling_support import SR, harmonic_tone

from musae_core.features import TopClip
from musae_core.labeling.clap import load_clap
from musae_core.labeling.steering_eval import (
    SteeringSettings,
    measure_steering,
    paired_shift,
    run_steering_eval,
)
from musae_core.models.sampling import SamplingSettings
from musae_core.steering import AddDirection

HIGH = {"descriptor": "register_midi", "direction": "higher"}


def test_descriptor_label_steers_when_takes_move_its_way():
    low = [harmonic_tone(m, 1.0) for m in range(40, 46)]
    high = [harmonic_tone(m, 1.0) for m in range(70, 76)]
    up = measure_steering("high register", HIGH, low, high, SR, embedder=None)
    assert up.steers and up.effect > 1 and up.evidence["measure"] == "descriptor"
    down = measure_steering("high register", HIGH, high, low, SR, embedder=None)
    assert not down.steers and down.effect < 0
    same = measure_steering("high register", HIGH, low, low, SR, embedder=None)
    assert not same.steers


def test_paired_shift_reports_direction_and_significance():
    shift = paired_shift([0.0] * 8, np.linspace(0.5, 1.5, 8))
    assert shift["p_value"] < 0.01 and shift["fraction_up"] == 1.0 and shift["d_z"] > 1
    assert paired_shift([1.0] * 4, [1.0] * 4)["p_value"] == 1.0


def unused_clip(peak: float) -> TopClip:
    """A top clip whose audio the steering evaluation never reads."""
    return TopClip(1, "unused.wav", 0.0, 1.0, mean_activation=1.0, peak_activation=peak)


def test_run_steering_eval_on_the_tiny_model(tiny_model, labelling_db):
    db = labelling_db({f: [unused_clip(2.0)] for f in range(3)})
    db.add_label(0, "descriptor", "high register", 0.9, HIGH)
    db.add_label(1, "llm", "bright piano", 0.7, {})
    direction = np.random.default_rng(0).normal(size=tiny_model.d_model).astype(np.float32)
    built = []

    def make(feature_id, alpha):
        built.append((feature_id, alpha))
        return AddDirection(layer=1, direction=direction, alpha=alpha * 10, beta=2.0)

    clap = load_clap("tiny", device="cpu")
    settings = SteeringSettings(n=3, duration=0.5, sampling=SamplingSettings(cfg_scale=1.0))
    summary = run_steering_eval(db, tiny_model, [0, 1, 2], make, clap, settings)
    assert (summary.evaluated, summary.unlabelled, summary.failed) == (2, 1, 0)
    assert built == [(0, 1.0), (1, 1.0)]
    record = db.steering(0)
    steers, evidence = record.steers, record.evidence
    assert evidence["beta"] == 2.0  # the verdict records the beta it was measured with
    assert isinstance(steers, bool) and evidence["measure"] == "descriptor"
    assert evidence["clap_shift"]["n"] == 3 and "descriptor_shift" in evidence
    assert db.steering(1).evidence["measure"] == "clap" and db.steering(2) is None
    assert 0.0 <= summary.fraction <= 1.0
    again = run_steering_eval(db, tiny_model, [0, 1, 2], make, clap, settings)
    assert again.skipped == 2 and again.evaluated == 0


def test_zero_strength_never_steers(tiny_model, labelling_db):
    db = labelling_db({0: [unused_clip(1.0)]})
    db.add_label(0, "clap", "calm", 0.1, {})
    direction = np.ones(tiny_model.d_model, np.float32)

    def make(feature_id, alpha):
        return AddDirection(layer=1, direction=direction, alpha=0.0, beta=1.0)

    settings = SteeringSettings(n=2, duration=0.5, sampling=SamplingSettings(cfg_scale=1.0))
    summary = run_steering_eval(db, tiny_model, [0], make, load_clap("tiny"), settings)
    record = db.steering(0)
    steers, evidence = record.steers, record.evidence
    assert summary.steered == 0 and steers is False
    assert evidence["clap_shift"]["mean_shift"] == pytest.approx(0.0, abs=1e-6)
