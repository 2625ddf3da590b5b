"""CLAP embeddings (tiny random model), vocabulary, zero-shot tags and label alignment."""

from __future__ import annotations

import numpy as np
import pytest
from test_labeling_support import SR, harmonic_tone

from musae_core.errors import MusaeError
from musae_core.labeling.clap import load_clap
from musae_core.labeling.clap_tagger import ClapTagger, TaggerSettings
from musae_core.labeling.clap_validation import alignment, validate_texts
from musae_core.labeling.vocabulary import Vocabulary, load_vocabulary, parse_terms


@pytest.fixture(scope="module")
def clap():
    return load_clap("tiny", device="cpu")


def test_embeddings_are_unit_norm_deterministic_and_windowed(clap):
    text = clap.embed_text(["bright piano", "minor mode", "bright piano"])
    assert text.shape == (3, clap.dim) and np.allclose(np.linalg.norm(text, axis=1), 1, atol=1e-5)
    assert np.array_equal(text[0], text[2])
    long = np.tile(harmonic_tone(60, 1.0), 12)  # 12 s: longer than CLAP's 10 s window
    audio = clap.embed_audio([harmonic_tone(60, 1.0), long], SR)
    again = clap.embed_audio([harmonic_tone(60, 1.0), long], SR)
    assert audio.shape == (2, clap.dim) and np.array_equal(audio, again)
    assert np.allclose(np.linalg.norm(audio, axis=1), 1, atol=1e-5)


def test_missing_clap_weights_name_the_id_and_how_to_download(tmp_path):
    with pytest.raises(MusaeError, match="laion/larger_clap_music") as info:
        load_clap("laion/larger_clap_music", device="cpu", cache_dir=tmp_path)
    assert "--download-clap" in info.value.fix
    with pytest.raises(MusaeError):
        load_clap("not a model id", device="cpu")


def test_shipped_vocabulary_has_hundreds_of_terms_in_categories():
    vocabulary = load_vocabulary()
    assert 300 <= len(vocabulary) <= 800
    assert {"instruments", "genres", "moods", "techniques", "production"} <= set(
        vocabulary.categories
    )
    terms = {t.term: t for t in vocabulary.terms}
    assert terms["cello"].prompt == "the sound of cello" and terms["jazz"].prompt == "jazz music"
    assert parse_terms("# comment\n  piano  # inline\n\nslap  bass\n") == ["piano", "slap bass"]


def test_vocabulary_errors_are_clear(tmp_path):
    with pytest.raises(MusaeError, match="No vocabulary files"):
        load_vocabulary(tmp_path)
    (tmp_path / "moods.txt").write_text("# nothing\n")
    with pytest.raises(MusaeError, match="empty"):
        load_vocabulary(tmp_path)


def test_alignment_scores_a_text_near_the_top_clips():
    rng = np.random.default_rng(0)
    text = np.eye(8, dtype=np.float32)[0]
    top = np.eye(8, dtype=np.float32)[[0] * 5] + rng.normal(0, 0.1, (5, 8)).astype(np.float32)
    base = rng.normal(0, 1, (20, 8)).astype(np.float32)
    top /= np.linalg.norm(top, axis=1, keepdims=True)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    near = alignment("near", text, top, base)
    assert near.clap_score > 0.5 and near.auroc == 1.0 and near.p_value < 0.01
    far = alignment("far", -text, top, base)
    assert far.clap_score < 0 and far.auroc == 0.0


def test_tagger_and_validation_run_on_tiny_clap(clap):
    vocabulary = Vocabulary.from_terms(
        {"instruments": ["piano", "cello", "drum kit"], "moods": ["calm", "dark"]}
    )
    tagger = ClapTagger(clap, vocabulary)
    top = clap.embed_audio([harmonic_tone(80 + i, 1.0) for i in range(4)], SR)
    base = clap.embed_audio([harmonic_tone(40 + 5 * i, 1.0) for i in range(6)], SR)
    labels = tagger.tag(top, base, TaggerSettings(top_k=5, min_score=-1.0, evidence_terms=5))
    assert len(labels) == 5 and [lab.source for lab in labels] == ["clap"] * 5
    scores = [lab.score for lab in labels]
    assert scores == sorted(scores, reverse=True)
    evidence = labels[0].evidence
    assert evidence["rank"] == 1 and evidence["clap_model"] == "tiny"
    assert len(evidence["ranking"]) == 5 and 0.0 <= evidence["auroc"] <= 1.0
    assert evidence["clap_score"] == pytest.approx(labels[0].score)
    checks = validate_texts(clap, ["piano", "high register"], top, base)
    assert [c.text for c in checks] == ["piano", "high register"]
    assert all(np.isfinite(c.clap_score) and 0.0 <= c.auroc <= 1.0 for c in checks)


def test_essentia_contrast_labels_and_clear_errors(tmp_path):
    from musae_core.labeling.taggers import EssentiaTagger, contrast_labels, read_head_metadata

    rng = np.random.default_rng(0)
    classes = ["piano", "guitar", "drums"]
    base = rng.uniform(0.1, 0.3, (20, 3))
    top = base[:8].copy()
    top[:, 2] += 0.5  # drums much more likely on the top clips
    labels = contrast_labels(top, base, classes, "demo-head", top_k=2)
    assert labels[0].text == "drums" and labels[0].evidence["auroc"] == 1.0
    assert all(label.score > 0 for label in labels) and labels[0].source == "essentia"
    head = tmp_path / "head.pb"
    head.write_bytes(b"")
    (tmp_path / "head.json").write_text(
        '{"name": "demo", "type": "multi-label", "classes": ["a", "b"], "schema": {"outputs": '
        '[{"name": "model/Sigmoid", "output_purpose": "predictions"}]}}'
    )
    meta = read_head_metadata(head)
    assert meta.classes == ("a", "b") and meta.output == "model/Sigmoid"
    try:
        import essentia  # noqa: F401
    except ImportError:
        with pytest.raises(MusaeError, match="essentia-tensorflow"):
            EssentiaTagger(tmp_path / "emb.pb", head)
