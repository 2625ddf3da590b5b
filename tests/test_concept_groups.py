"""Concept feature groups in the feature database: schema v2, migration, write and read."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from musae_core.demo.concept_score import store_concept_groups
from musae_core.features import FeatureDB, FeatureStats
from musae_core.features.concept_groups import (
    concept_groups,
    groups_from_report,
    write_concept_groups,
)

SHIPPED = Path(__file__).resolve().parents[1] / "resources" / "demo" / "features.db"
ROWS = [
    {"name": "pitch_class=C#", "group": [4, 2], "features_to_90pct": 2, "carried": True,
     "k_sparse_f1": {"1": 0.5, "2": 0.91}, "probe_f1_resid": 0.95, "auroc": 0.97},
    {"name": "onset", "group": [2], "features_to_90pct": 1, "carried": True,
     "k_sparse_f1": {"1": 0.9}, "probe_f1_resid": 0.92, "auroc": 0.96},
    {"name": "mode=minor", "group": [], "features_to_90pct": None, "carried": False},
    {"name": "tempo_band=slow", "group": [1], "features_to_90pct": 1, "carried": False},
    {"name": "register=low", "group": [5, 3, 1], "features_to_90pct": None, "carried": True,
     "k_sparse_f1": {"1": 0.5, "3": 0.7}, "probe_f1_resid": 0.95, "auroc": 0.6},
]  # fmt: skip


def make_db(path: Path) -> FeatureDB:
    db = FeatureDB.create(path, {"model_id": "tiny", "layer": 2, "sample_rate": 32000})
    db.write_features(
        [
            FeatureStats(
                id=i, frequency=0.1, clip_rate=0.1, max_activation=1.0, mean_activation=0.5
            )
            for i in range(6)
        ]
    )
    return db


def test_groups_round_trip_by_concept_and_by_feature(tmp_path):
    db = make_db(tmp_path / "F.db")
    try:
        groups = groups_from_report(ROWS, "demo-scorecard")
        assert [g.concept for g in groups] == ["pitch_class=C#", "onset", "register=low"]
        assert groups[2].group_f1 == pytest.approx(0.7)  # 90 % not reached: the largest k
        assert write_concept_groups(db, groups[:2], "demo-scorecard") == 3
        both = concept_groups(db)
        assert {g.concept: g.features for g in both} == {"pitch_class=C#": [4, 2], "onset": [2]}
        c_sharp = next(g for g in both if g.concept == "pitch_class=C#")
        assert c_sharp.group_f1 == pytest.approx(0.91) and c_sharp.ceiling_f1 == 0.95
        assert [g.concept for g in concept_groups(db, feature_id=4)] == ["pitch_class=C#"]
        assert {g.concept for g in concept_groups(db, feature_id=2)} == {"pitch_class=C#", "onset"}
        write_concept_groups(db, groups[1:2], "demo-scorecard")  # a re-run replaces the source
        assert [g.concept for g in concept_groups(db)] == ["onset"]
    finally:
        db.close()


def test_a_version_1_database_is_migrated_and_gains_groups(tmp_path):
    old = tmp_path / "old.db"
    shutil.copy(SHIPPED, old)
    conn = sqlite3.connect(old)
    conn.execute("DROP TABLE IF EXISTS concept_groups")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with FeatureDB.open(old, readonly=True) as db:  # users' older copies still open read-only
        assert concept_groups(db, feature_id=2) == [] and db.feature_count() > 0
    with sqlite3.connect(old) as conn:  # ... unchanged: no migration behind their back
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    conn.close()
    assert store_concept_groups(old, ROWS) == 6  # opens read-write: migrates, then writes
    with FeatureDB.open(old, readonly=True) as db:
        assert {g.concept for g in concept_groups(db, feature_id=2)} == {"pitch_class=C#", "onset"}


def test_a_member_read_inverted_keeps_its_direction_and_older_files_read_plus(tmp_path):
    """ "drums=false" is covered by the drums feature read inverted (the concept is where it is
    silent): the group stores -1 for it, so the app can say "turn it down"."""
    rows = [{"name": "drums=false", "group": [3, 1], "group_directions": [-1, 1],
             "features_to_90pct": 1, "carried": True, "k_sparse_f1": {"1": 0.99},
             "probe_f1_resid": 0.94, "auroc": 0.68}]  # fmt: skip
    path = tmp_path / "F.db"
    db = make_db(path)
    try:
        write_concept_groups(db, groups_from_report(rows, "demo-scorecard"), "demo-scorecard")
        (group,) = concept_groups(db)
        assert group.directions == [-1, 1] and group.direction(3) == -1 and group.direction(1) == 1
    finally:
        db.close()
    with sqlite3.connect(path) as conn:  # a version-3 file (no direction column), read-only
        conn.execute("ALTER TABLE concept_groups DROP COLUMN direction")
        conn.execute("PRAGMA user_version = 3")
    conn.close()
    with FeatureDB.open(path, readonly=True) as db:
        (group,) = concept_groups(db)
        assert group.features == [3, 1] and group.directions == [1, 1]
