"""Descriptor labels on synthetic clips with a known property, and the statistics behind them."""

from __future__ import annotations

import numpy as np
import pytest
from test_labeling_support import SR, click_track, harmonic_tone

from musae_core.errors import MusaeError
from musae_core.labeling.contrast_stats import auroc, compare, compare_proportions
from musae_core.labeling.descriptor_labeler import descriptor_labels
from musae_core.labeling.descriptors import describe, estimate_key


@pytest.fixture(scope="module")
def baseline():
    """Tones spread over the whole range, at a middling tempo-free texture."""
    pitches = np.linspace(40, 84, 20)
    return [describe(harmonic_tone(m, seconds=1.0), SR) for m in pitches]


def test_high_register_clips_get_high_register_label(baseline):
    top = [describe(harmonic_tone(m, seconds=1.0), SR) for m in range(80, 90)]
    labels = {label.text: label for label in descriptor_labels(top, baseline)}
    assert "high register" in labels
    assert "low register" not in labels
    evidence = labels["high register"].evidence
    assert evidence["p_adjusted"] < 0.01 and evidence["rank_biserial"] > 0.5
    assert evidence["top"]["median"] > evidence["baseline"]["median"] + 12


def test_low_register_clips_get_low_register_label(baseline):
    top = [describe(harmonic_tone(m, seconds=1.0), SR) for m in range(30, 40)]
    texts = [label.text for label in descriptor_labels(top, baseline)]
    assert "low register" in texts
    assert "high register" not in texts


def test_fast_clicks_get_fast_tempo_and_slow_clicks_slow_tempo():
    def tracks(bpms, seed):
        return [
            describe(click_track(b, seconds=3.0, seed=seed + i), SR) for i, b in enumerate(bpms)
        ]

    baseline = tracks(range(84, 132, 3), seed=0)
    fast = tracks(range(140, 164, 3), seed=100)  # above ~170 BPM reads as half
    slow = tracks(range(60, 76, 2), seed=200)
    fast_texts = [label.text for label in descriptor_labels(fast, baseline)]
    slow_texts = [label.text for label in descriptor_labels(slow, baseline)]
    assert "fast tempo" in fast_texts and "slow tempo" not in fast_texts
    assert "slow tempo" in slow_texts and "fast tempo" not in slow_texts
    assert "high register" not in fast_texts + slow_texts


def triad(root: int, minor: bool) -> np.ndarray:
    third = 3 if minor else 4
    return sum(harmonic_tone(root + i, seconds=1.0) for i in (0, third, 7)) / 3


def test_minor_triads_get_minor_mode_and_no_key_label():
    baseline = [describe(triad(r, minor=r % 3 == 0), SR) for r in range(55, 75)]
    top = [describe(triad(r, minor=True), SR) for r in range(57, 67)]
    labels = {label.text: label for label in descriptor_labels(top, baseline)}
    assert "minor mode" in labels and "major mode" not in labels
    assert labels["minor mode"].evidence["p_adjusted"] < 0.01
    assert not any(text.startswith("key of") for text in labels)


def test_clips_like_the_baseline_get_no_label(baseline):
    top = [describe(harmonic_tone(m, seconds=1.0), SR) for m in (43, 50, 57, 62, 66, 70, 77, 82)]
    assert descriptor_labels(top, baseline) == []


def test_describe_handles_silence_and_rejects_bad_audio():
    silent = describe(np.zeros(SR, np.float32), SR)
    assert np.isnan(silent["tempo_bpm"]) and silent["loudness_db"] == -120.0
    with pytest.raises(MusaeError):
        describe(np.array([np.nan, 0.0], np.float32), SR)


def test_key_estimate_finds_a_minor_triad_profile():
    chroma = np.zeros(12)
    chroma[[9, 0, 4]] = [1.0, 0.8, 0.9]  # A, C, E
    tonic, mode, strength = estimate_key(chroma)
    assert (tonic, mode) == (9, "minor") and strength > 0.5


def test_auroc_by_ranks_matches_pairwise_count():
    rng = np.random.default_rng(1)
    top, base = rng.normal(1, 1, 9), rng.normal(0, 1, 13)
    pairs = np.mean([(a > b) + 0.5 * (a == b) for a in top for b in base])
    assert auroc(top, base) == pytest.approx(pairs)
    result = compare(top, base)
    assert result.rank_biserial == pytest.approx(2 * pairs - 1)


def test_proportion_test_flags_a_category_that_dominates():
    strong = compare_proportions(9, 10, 5, 40, alternative="greater")
    weak = compare_proportions(3, 10, 12, 40, alternative="greater")
    assert strong.p_value < 0.001 < weak.p_value
    assert strong.difference == pytest.approx(0.9 - 0.125)
