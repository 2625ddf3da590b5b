"""Evidence sentences: the numbers a labeller stored, read out in words a musician follows."""

from __future__ import annotations

from musae_core.features.evidence import evidence_sentence


def test_descriptor_sentences_read_direction_auroc_gap_and_p():
    loud = {
        "U": 704.0,
        "auroc": 0.9167,
        "descriptor": "loudness_db",
        "direction": "higher",
        "meaning": "RMS level",
        "median_gap": 9.64,
        "median_gap_unit": "dBFS",
        "p_adjusted": 9.5e-05,
        "p_value": 9.5e-06,
    }
    assert evidence_sentence("descriptor", "loud", loud) == (
        "Top clips are louder than 92 % of random clips (AUROC 0.92, median +9.6 dBFS, p = 1e-04)"
    )
    dark = {
        "auroc": 0.155,
        "descriptor": "brightness_hz",
        "direction": "lower",
        "median_gap": -1.89,
        "median_gap_unit": "octaves",
        "p_adjusted": 0.0062,
    }
    sentence = evidence_sentence("descriptor", "dark", dark)
    assert sentence.startswith("Top clips are darker than 84 % of random clips")
    assert "AUROC 0.84, median -1.9 octaves" in sentence and "p = 0.0062" in sentence
    key = {
        "descriptor": "key",
        "category": "C major",
        "top_counts": {"C major": 6, "G major": 2},
        "baseline_counts": {"C major": 10, "A minor": 90},
        "p_adjusted": 0.01,
    }
    assert evidence_sentence("descriptor", "key of C", key) == (
        "6 of 8 top clips are C major vs 10 % of random clips (p = 0.01)"
    )


def test_classifier_clap_llm_and_empty_evidence():
    classifier = {
        "U": 472.0,
        "auroc": 0.6277,
        "class": "low register",
        "mean_top": 0.586,
        "mean_baseline": 0.282,
        "model": "musae-demo-factors",
        "p_value": 0.2395,
    }
    assert evidence_sentence("classifier", "low register", classifier) == (
        "Top clips sound more like “low register” than 63 % of random clips to the "
        "musae-demo-factors classifier (AUROC 0.63, mean 0.59 vs 0.28, not significant, p = 0.24)"
    )
    clap = {
        "clap_model": "laion/larger_clap_music",
        "prompt": "solo piano",
        "auroc": 0.94,
        "clap_score": 0.051,
        "rank": 1,
        "vocabulary_size": 300,
    }
    assert evidence_sentence("clap", "piano", clap) == (
        "CLAP hears “solo piano” in top clips more than in 94 % of random clips "
        "(AUROC 0.94, similarity contrast +0.051, rank 1 of 300 terms)"
    )
    llm = {"llm_model": "qwen-audio", "n_clips": 8, "rank": 2}
    assert evidence_sentence("llm", "warm pad", llm) == (
        "Named by qwen-audio after listening to 8 top clips (concept 2 of its answer)"
    )
    assert evidence_sentence("x", "y", {}) == ""
    assert evidence_sentence("x", "y", {"auroc": None, "raw": float("nan")}) == ""
