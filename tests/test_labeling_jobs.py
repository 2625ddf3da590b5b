"""Labelling jobs over a feature database: storage, resume, errors, cancel, validation, CLI."""

from __future__ import annotations

import numpy as np
import pytest
from test_labeling_support import all_labels, clips_from_audio, harmonic_tone

from musae_core.features import FeatureDB, FeatureStore, TopClip
from musae_core.jobs import CancelToken
from musae_core.labeling.clap import load_clap
from musae_core.labeling.clap_tagger import ClapTagger, TaggerSettings
from musae_core.labeling.clip_audio import baseline_for, sample_baseline
from musae_core.labeling.label_job import parse_feature_list, run_label_job
from musae_core.labeling.methods import ClapMethod, ClapValidator, DescriptorMethod, EmbeddingCache
from musae_core.labeling.vocabulary import Vocabulary

HIGH, LOW = 0, 1


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory):
    """Feature 0: high tones, feature 1: low tones, features 2-6: tones across the range."""
    folder = tmp_path_factory.mktemp("clips")
    rng = np.random.default_rng(0)
    features = {
        HIGH: clips_from_audio(folder, "high", [harmonic_tone(m, 1.0) for m in range(80, 88)]),
        LOW: clips_from_audio(folder, "low", [harmonic_tone(m, 1.0) for m in range(30, 38)]),
    }
    for f in range(2, 7):
        pitches = rng.uniform(42, 78, 6)
        features[f] = clips_from_audio(folder, f"mix{f}", [harmonic_tone(m, 1.0) for m in pitches])
    return features


def make_db(labelling_db, clip_folder, extra=None) -> FeatureDB:
    """A real feature database holding the folder's features (and ``extra`` ones)."""
    clips = {f: list(c) for f, c in clip_folder.items()}
    clips.update(extra or {})
    return labelling_db(clips)


@pytest.fixture(scope="module")
def descriptors():
    """One method for the module: its per-clip cache keeps the tests fast."""
    return DescriptorMethod()


@pytest.fixture(scope="module")
def clap():
    return load_clap("tiny", device="cpu")


def test_feature_db_is_the_store_the_jobs_are_written_against(clip_folder, labelling_db):
    db = make_db(labelling_db, clip_folder)
    assert isinstance(db, FeatureStore)
    assert [c.source_path for c in db.top_clips(HIGH)] == [c.source_path for c in clip_folder[HIGH]]


def test_baseline_pool_is_seeded_round_robin_and_excludes_the_feature(clip_folder, labelling_db):
    db = make_db(labelling_db, clip_folder)
    pool = sample_baseline(db, list(clip_folder), size=10, seed=3)
    again = sample_baseline(db, list(clip_folder), size=10, seed=3)
    assert [b.key for b in pool] == [b.key for b in again] and len(pool) == 10
    assert len({b.feature_id for b in pool[:7]}) == 7  # one clip of each feature first
    mine = baseline_for(pool, HIGH, clip_folder[HIGH])
    assert all(b.feature_id != HIGH for b in mine) and len(mine) < len(pool)


def test_descriptor_job_labels_known_features_and_resumes(clip_folder, descriptors, labelling_db):
    db = make_db(labelling_db, clip_folder)
    summary = run_label_job(db, descriptors, [HIGH, LOW], baseline_size=40)
    assert (summary.done, summary.failed) == (2, 0)
    texts = {f: {r.text for r in db.labels(f)} for f in (HIGH, LOW)}
    assert "high register" in texts[HIGH] and "low register" not in texts[HIGH]
    assert "low register" in texts[LOW] and "high register" not in texts[LOW]
    label = next(r for r in db.labels(HIGH) if r.text == "high register")
    assert label.source == "descriptor" and label.evidence["p_adjusted"] < 0.01
    assert label.evidence["baseline"]["used"] >= 30 and label.evidence["job"] == "label:descriptors"
    count = len(all_labels(db))
    again = run_label_job(db, descriptors, [HIGH, LOW], baseline_size=40)
    assert (again.done, again.skipped) == (0, 2) and len(all_labels(db)) == count


def test_failing_feature_is_recorded_and_the_job_goes_on(
    clip_folder, descriptors, tmp_path, labelling_db
):
    gone = TopClip(
        1, str(tmp_path / "gone.wav"), 0.0, 1.0, mean_activation=1.0, peak_activation=1.0
    )
    db = make_db(labelling_db, clip_folder, {9: [gone], 10: []})
    summary = run_label_job(db, descriptors, [9, 10, HIGH], baseline_size=30)
    assert (summary.done, summary.failed) == (1, 2)
    errors = db.errors("label:descriptors")
    assert [e.feature_id for e in errors] == [9, 10]
    assert "Cannot read top clip audio" in errors[0].message
    assert "no top clips" in errors[1].message
    assert db.done(HIGH, "label:descriptors") and not db.done(9, "label:descriptors")


def test_cancel_stops_between_features_and_a_rerun_finishes(clip_folder, descriptors, labelling_db):
    db = make_db(labelling_db, clip_folder)
    cancel = CancelToken()
    seen = []

    def progress(done, total):
        seen.append(done)
        cancel.cancel()

    first = run_label_job(
        db, descriptors, [HIGH, LOW, 2], baseline_size=30, progress=progress, cancel=cancel
    )
    assert first.stopped == "cancelled" and first.done == 1
    second = run_label_job(db, descriptors, [HIGH, LOW, 2], baseline_size=30)
    assert (second.done, second.skipped) == (2, 1)


def test_limit_counts_only_missing_features(clip_folder, descriptors, labelling_db):
    db = make_db(labelling_db, clip_folder)
    run_label_job(db, descriptors, [2], baseline_size=20)
    summary = run_label_job(db, descriptors, [2, 3, 4, 5], baseline_size=20, limit=2)
    assert (summary.skipped, summary.done) == (1, 2) and "limit" in summary.stopped


def test_validate_job_scores_every_label_once(clip_folder, descriptors, clap, labelling_db):
    db = make_db(labelling_db, clip_folder)
    run_label_job(db, descriptors, [HIGH, LOW], baseline_size=30)
    n_labels = len(all_labels(db))
    assert n_labels >= 2
    validator = ClapValidator(EmbeddingCache(clap))
    summary = run_label_job(db, None, [HIGH, LOW], validator, baseline_size=30)
    assert summary.validated == n_labels
    for row in all_labels(db):
        assert row.clap_score is not None and 0.0 <= row.auroc <= 1.0
    again = run_label_job(db, None, [HIGH, LOW], validator, baseline_size=30)
    assert again.validated == 0


def test_clap_job_tags_and_validates(clip_folder, clap, labelling_db):
    db = make_db(labelling_db, clip_folder)
    vocabulary = Vocabulary.from_terms({"instruments": ["piano", "flute"], "moods": ["calm"]})
    cache = EmbeddingCache(clap)
    method = ClapMethod(ClapTagger(clap, vocabulary), cache, TaggerSettings(min_score=-1.0))
    summary = run_label_job(db, method, [HIGH], ClapValidator(cache), baseline_size=20)
    assert summary.labels_added == 3 and summary.validated == 3
    assert {r.source for r in db.labels(HIGH)} == {"clap"}
    assert db.done(HIGH, "label:clap:tiny")


def test_parse_feature_list():
    assert parse_feature_list("1,2, 5,3-4,2") == [1, 2, 5, 3, 4]


def test_musae_label_cli(clip_folder, tmp_path, capsys, labelling_db):
    from musae_core.cli import main

    db = make_db(labelling_db, clip_folder)
    path = db.path
    code = main(
        [
            "label",
            "--db",
            str(path),
            "--method",
            "descriptors",
            "--features",
            "0,1",
            "--baseline-size",
            "30",
        ]
    )
    assert code == 0
    assert "2 features labelled" in capsys.readouterr().out
    code = main(
        [
            "label",
            "--db",
            str(path),
            "--method",
            "validate",
            "--all",
            "--clap-model",
            "tiny",
            "--baseline-size",
            "30",
            "--device",
            "cpu",
        ]
    )
    labels = all_labels(db)
    assert code == 0 and labels and all(row.clap_score is not None for row in labels)
    assert main(["label", "--db", str(tmp_path / "nope.db"), "--method", "clap", "--all"]) == 2


def test_dead_features_are_skipped_with_the_reason_and_errors_keep_one_row(descriptors, tmp_path):
    """A feature that never fired is skipped as dead (no 'run the features job' error); a
    feature that keeps failing keeps one job_errors row however often the job is re-run."""
    from musae_core.features import FeatureDB, FeatureStats

    db = FeatureDB.create(tmp_path / "F.db", {"model_id": "tiny", "layer": 2})
    common = dict(clip_rate=0.0, mean_activation=0.0, quantiles={}, histogram=([0.0, 1.0], [0]))
    db.write_features([
        FeatureStats(id=0, frequency=0.0, max_activation=0.0, dead=True, **common),
        FeatureStats(id=1, frequency=0.1, max_activation=2.0, **common),
    ])  # fmt: skip
    for _ in range(3):
        summary = run_label_job(db, descriptors, [0, 1], baseline_size=4)
    assert summary.never_fired == [0] and summary.failed == 1
    errors = db.errors("label:descriptors")
    assert [e.feature_id for e in errors] == [1]  # one row, not one per attempt
    assert "fired but has no top clips" in errors[0].message and "features job" not in str(
        errors[0].message
    )
    db.close()


def test_label_refuses_a_zero_byte_database_and_leaves_it_alone(tmp_path, capsys):
    from musae_core.cli import main

    path = tmp_path / "features.db"
    path.write_bytes(b"")
    assert main(["label", "--db", str(path), "--method", "descriptors", "--all"]) == 2
    assert "is empty (0 bytes)" in capsys.readouterr().err
    assert path.stat().st_size == 0 and sorted(p.name for p in tmp_path.iterdir()) == [path.name]
