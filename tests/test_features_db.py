"""FeatureDB: writing, querying, labels, jobs, secrets, bad files and concurrent readers."""

from __future__ import annotations

import sqlite3

import pytest

from musae_core.errors import MusaeError
from musae_core.features import FeatureDB, FeatureStats, TopClip
from musae_core.features.schema import SCHEMA_VERSION


def stats(i: int, **kw) -> FeatureStats:
    base = dict(
        id=i,
        frequency=0.01 * i,
        clip_rate=0.02 * i,
        max_activation=float(10 - i),
        mean_activation=1.0,
        quantiles={"q50": 0.5},
        histogram=([0.0, 1.0], [3]),
    )
    return FeatureStats(**{**base, **kw})


@pytest.fixture
def db(tmp_path):
    db = FeatureDB.create(tmp_path / "F.db", {"model_id": "tiny", "layer": 2, "sample_rate": 32000})
    db.write_features([stats(i, dead=i == 0, rare=i == 1, generic=i == 2) for i in range(6)])
    db.add_label(3, "descriptors", "high pitch register", 0.9, {"p_value": 1e-4})
    piano = db.add_label(3, "clap", "bright piano", 0.5, {"tags": ["piano"]}, "Solo piano.")
    db.add_label(4, "llm", "Distorted guitar", 0.7, {"raw": float("nan")}, "Loud rock guitar.")
    db.set_label_validation(piano, clap_score=0.3, auroc=0.8)
    yield db
    db.close()


def test_create_open_meta_and_refuse_overwrite(db, tmp_path):
    meta = db.meta()
    assert meta["model_id"] == "tiny" and "created" in meta and "musae_version" in meta
    assert db.snippet_dir == tmp_path / "F.snippets" and db.feature_count() == 6
    with pytest.raises(MusaeError, match="already exists"):
        FeatureDB.create(tmp_path / "F.db", {})
    with FeatureDB.open(tmp_path / "F.db", readonly=True) as again:
        assert again.meta() == meta
        with pytest.raises(MusaeError, match="read-only"):
            again.set_favourite(3)


def test_best_label_prefers_validation_then_score(db):
    record = db.feature(3)
    assert record.best_label == "bright piano" and record.clap_score == 0.3
    assert record.label_source == "clap" and record.description == "Solo piano."
    assert db.feature(4).best_label == "Distorted guitar" and db.feature(4).clap_score is None
    labels = db.labels(4)
    assert labels[0].evidence == {"raw": None} and labels[0].score == 0.7
    assert [lab.text for lab in db.labels(3)] == ["high pitch register", "bright piano"]


def test_query_text_filters_and_sort(db):
    assert [r.id for r in db.query(text="PIAN")] == [3]
    assert [r.id for r in db.query(text="loud rock")] == [4]  # description words
    assert [r.id for r in db.query(text="guitar piano")] == []  # every word must match
    assert [r.id for r in db.query(text="5")] == [5]  # a number matches the id
    assert [r.id for r in db.query(text="  ")] == list(range(6))
    assert [r.id for r in db.query(hide_dead=True, hide_rare=True, hide_generic=True)] == [3, 4, 5]
    assert [r.id for r in db.query(labelled_only=True)] == [3, 4]
    assert [r.id for r in db.query(sort="max_activation")] == [5, 4, 3, 2, 1, 0]
    assert [r.id for r in db.query(sort="score", descending=True)][:3] == [4, 3, 0]
    assert [r.id for r in db.query(sort="clap_score")] == [3, 0, 1, 2, 4, 5]
    assert [r.id for r in db.query(sort="id", limit=2, offset=1)] == [1, 2]
    row = db.query(text="piano")[0]
    assert row.best_label == "bright piano" and row.dead is False and row.steers is None
    with pytest.raises(MusaeError, match="Cannot sort"):
        db.query(sort="id; DROP TABLE features")


def test_like_fallback_without_fts(db):
    db._fts = False
    assert [r.id for r in db.query(text="pian")] == [3]
    assert [r.id for r in db.query(text="100%_")] == []


def test_favourites_steering_and_unknown_ids(db):
    db.set_favourite(5)
    db.set_steering(4, True, 0.8, {"p": float("inf")})
    assert [r.id for r in db.query(favourites_only=True)] == [5]
    assert [r.id for r in db.query(steerable_only=True)] == [4]
    record = db.steering(4)
    assert record.steers and record.effect == 0.8 and record.evidence == {"p": None}
    assert db.steering(3) is None and db.feature(4).steer_effect == 0.8
    with pytest.raises(MusaeError, match="valid ids are 0-5"):
        db.feature(99)
    with pytest.raises(MusaeError, match="valid ids are 0-5"):
        db.add_label(99, "x", "y", 1.0, {})


def test_jobs_errors_and_done_marks(db):
    db.record_error(3, "label:llm", "timeout")
    db.record_error(4, "label:llm", "HTTP 500")
    assert [(e.feature_id, e.message) for e in db.errors("label:llm")] == [
        (3, "timeout"),
        (4, "HTTP 500"),
    ]
    assert not db.done(3, "label:llm")
    db.mark_done(3, "label:llm")
    assert db.done(3, "label:llm") and [e.feature_id for e in db.errors()] == [4]


def test_api_keys_are_never_stored(db, monkeypatch):
    with pytest.raises(MusaeError, match="API key"):
        db.add_label(3, "llm", "piano", 1.0, {"auth": "Bearer sk-abcdefghijklmnopqrstuv"})
    monkeypatch.setenv("MUSAE_LLM_API_KEY", "my-local-secret-123")
    with pytest.raises(MusaeError, match="API key"):
        db.add_label(3, "llm", "piano", 1.0, {}, description="key my-local-secret-123")
    db.record_error(3, "label:llm", "401 for key my-local-secret-123 sk-abcdefghijklmnopqrstuv")
    assert db.errors()[-1].message == "401 for key *** ***"
    dump = "\n".join(db._conn.iterdump())
    assert "my-local-secret" not in dump and "sk-abcdefghijklmnop" not in dump


def test_top_clips_and_neighbours_round_trip(db, tmp_path):
    db.snippet_dir.mkdir()
    (db.snippet_dir / "a.flac").write_bytes(b"x")
    clips = [
        TopClip(
            1,
            "/music/a.wav",
            10.0,
            10.0,
            0.5,
            2.0,
            [0.0, 1.5, 0.25],
            50.0,
            (0.02, 0.04),
            db.snippet_dir / "a.flac",
        ),
        TopClip(
            2, "/music/b.wav", 0.0, 10.0, 0.4, 1.0, [1.0], 50.0, (0.0, 0.02), tmp_path / "gone.flac"
        ),
    ]
    db.write_top_clips(3, "peak", clips)
    db.write_top_clips(3, "peak", clips[:1] + clips[1:])  # replaces, no duplicates
    db.write_neighbours(3, [(4, 0.9), (1, 0.2)])
    got = db.top_clips(3, by="peak")
    assert [c.rank for c in got] == [1, 2] and got[0].timeline == [0.0, 1.5, 0.25]
    assert got[0].snippet_path == (db.snippet_dir / "a.flac").resolve()
    assert got[1].snippet_path is None and got[0].best_window == (0.02, 0.04)
    assert db.top_clips(3) == [] and db.neighbours(3) == [(4, 0.9), (1, 0.2)]
    with pytest.raises(MusaeError, match="'mean' or 'peak'"):
        db.top_clips(3, by="median")


def test_bad_files_are_clear_errors(tmp_path):
    with pytest.raises(MusaeError, match="does not exist"):
        FeatureDB.open(tmp_path / "missing.db")
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(MusaeError, match="not a readable musae feature database"):
        FeatureDB.open(garbage)
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE x (y)").connection.commit()
    with pytest.raises(MusaeError, match="no musae metadata"):
        FeatureDB.open(other)
    newer = tmp_path / "newer.db"
    FeatureDB.create(newer, {}).close()
    conn = sqlite3.connect(newer)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(MusaeError, match="update musae"):
        FeatureDB.open(newer)


def test_readable_while_a_writer_holds_a_transaction(db, tmp_path):
    with FeatureDB.open(tmp_path / "F.db", readonly=True) as reader:
        with db._tx() as conn:
            conn.execute("UPDATE features SET favourite = 1 WHERE id = 2")
            assert [r.id for r in reader.query(text="piano")] == [3]
            assert reader.feature(2).favourite is False  # not committed yet
        assert reader.feature(2).favourite is True


def test_search_skips_negated_labels_and_ranks_by_match(tmp_path):
    """'drums' never finds 'no drums'; exact label > label starting with it > word > description."""
    db = FeatureDB.create(tmp_path / "S.db", {"model_id": "tiny"})
    db.write_features([stats(i) for i in range(8)])
    db.add_label(0, "classifier", "no drums", 0.9, {})
    db.add_label(1, "llm", "dark pad", 0.9, {}, "A dark pad without drums.")
    db.add_label(2, "llm", "drums and bass", 0.2, {})
    db.add_label(3, "llm", "loud", 0.8, {}, "Busy drums under a loud riff.")
    db.add_label(4, "classifier", "drums", 0.3, {})
    db.add_label(5, "llm", "not loud", 0.5, {})
    db.add_label(6, "llm", "funky live drums", 0.4, {})
    db.add_label(7, "classifier", "dark", 0.95, {})
    db.add_label(7, "classifier", "drums", 0.1, {})  # matches, but not the shown label
    assert [h.feature_id for h in db.search("drums")] == [4, 7, 2, 6, 3]
    assert [h.feature_id for h in db.search("Drums")] == [4, 7, 2, 6, 3]
    assert [h.label for h in db.search("drums")][:2] == ["drums", "drums"]
    assert [h.feature_id for h in db.search("no drums")] == [0, 1]
    assert [h.feature_id for h in db.search("without drums")] == [0, 1]
    assert [h.feature_id for h in db.search("loud")] == [3]
    assert [h.feature_id for h in db.search("not loud")] == [5]
    assert [r.id for r in db.query(text="drums")] == [2, 3, 4, 6, 7]  # sorted by id
    assert [r.id for r in db.query(text="drums", sort="match", descending=True)] == [4, 7, 2, 6, 3]
    assert [r.id for r in db.query(text="drums", sort="match", descending=True, limit=2)] == [4, 7]
    db._fts = False  # the LIKE fallback applies the same rules
    assert [h.feature_id for h in db.search("drums")] == [4, 7, 2, 6, 3]
    db.close()


def test_a_zero_byte_file_is_refused_and_left_alone(tmp_path):
    """Any opener (CLI or app) gets the clear error; SQLite never turns the file into a DB."""
    empty = tmp_path / "features.db"
    empty.write_bytes(b"")
    for readonly in (False, True):
        with pytest.raises(MusaeError, match=r"is empty \(0 bytes\)"):
            FeatureDB.open(empty, readonly=readonly)
    assert empty.stat().st_size == 0 and [p.name for p in tmp_path.iterdir()] == [empty.name]
