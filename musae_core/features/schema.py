"""The feature database's tables, its schema version and the migrations between versions.

``PRAGMA user_version`` holds the schema version. Opening an older file read-write runs the
missing migrations in one transaction; a newer file is refused (this musae cannot know it).
The label search uses an FTS5 index when SQLite has it and falls back to LIKE otherwise.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

FORMAT = "musae-features"
SCHEMA_VERSION = 4

TABLES = """
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE features (
    id INTEGER PRIMARY KEY,
    frequency REAL NOT NULL,
    clip_rate REAL NOT NULL,
    max_activation REAL NOT NULL,
    mean_activation REAL NOT NULL,
    quantiles TEXT NOT NULL DEFAULT '{}',
    histogram TEXT NOT NULL DEFAULT '[[], []]',
    clip_histogram TEXT NOT NULL DEFAULT '[[], []]',
    dead INTEGER NOT NULL DEFAULT 0,
    rare INTEGER NOT NULL DEFAULT 0,
    generic INTEGER NOT NULL DEFAULT 0,
    favourite INTEGER NOT NULL DEFAULT 0,
    -- the best label, denormalised so that the table sorts and filters without joins
    best_label TEXT,
    label_source TEXT,
    label_score REAL,
    clap_score REAL,
    description TEXT NOT NULL DEFAULT '',
    steers INTEGER,
    steer_effect REAL,
    steer_evidence TEXT,
    steer_updated TEXT
);
CREATE TABLE labels (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    feature_id INTEGER NOT NULL REFERENCES features(id) ON DELETE CASCADE,
    source TEXT NOT NULL,
    text TEXT NOT NULL,
    score REAL NOT NULL,
    evidence TEXT NOT NULL DEFAULT '{}',
    description TEXT NOT NULL DEFAULT '',
    clap_score REAL,
    auroc REAL,
    created TEXT NOT NULL
);
CREATE INDEX labels_by_feature ON labels(feature_id);
CREATE TABLE top_clips (
    feature_id INTEGER NOT NULL REFERENCES features(id) ON DELETE CASCADE,
    by TEXT NOT NULL CHECK (by IN ('mean', 'peak')),
    rank INTEGER NOT NULL,
    source_id INTEGER NOT NULL,
    source_path TEXT NOT NULL,
    clip_index INTEGER NOT NULL,
    clip_start REAL NOT NULL,
    clip_seconds REAL NOT NULL,
    mean_activation REAL NOT NULL,
    peak_activation REAL NOT NULL,
    frame_rate REAL NOT NULL,
    timeline BLOB NOT NULL,
    window_start REAL NOT NULL,
    window_end REAL NOT NULL,
    snippet TEXT,
    PRIMARY KEY (feature_id, by, rank)
) WITHOUT ROWID;
CREATE TABLE neighbours (
    feature_id INTEGER NOT NULL REFERENCES features(id) ON DELETE CASCADE,
    rank INTEGER NOT NULL,
    other INTEGER NOT NULL,
    cosine REAL NOT NULL,
    PRIMARY KEY (feature_id, rank)
) WITHOUT ROWID;
CREATE TABLE job_done (
    feature_id INTEGER NOT NULL,
    job TEXT NOT NULL,
    finished TEXT NOT NULL,
    PRIMARY KEY (feature_id, job)
) WITHOUT ROWID;
CREATE TABLE job_errors (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    feature_id INTEGER NOT NULL,
    job TEXT NOT NULL,
    message TEXT NOT NULL,
    created TEXT NOT NULL
);
CREATE INDEX job_errors_by_job ON job_errors(job, feature_id);
"""

FTS = """
CREATE VIRTUAL TABLE label_search USING fts5(
    text, description, content='labels', content_rowid='id', tokenize='unicode61'
);
CREATE TRIGGER labels_ai AFTER INSERT ON labels BEGIN
    INSERT INTO label_search(rowid, text, description)
    VALUES (new.id, new.text, new.description);
END;
CREATE TRIGGER labels_ad AFTER DELETE ON labels BEGIN
    INSERT INTO label_search(label_search, rowid, text, description)
    VALUES ('delete', old.id, old.text, old.description);
END;
CREATE TRIGGER labels_au AFTER UPDATE OF text, description ON labels BEGIN
    INSERT INTO label_search(label_search, rowid, text, description)
    VALUES ('delete', old.id, old.text, old.description);
    INSERT INTO label_search(rowid, text, description)
    VALUES (new.id, new.text, new.description);
END;
"""


CONCEPT_GROUPS = """
CREATE TABLE concept_groups (
    source TEXT NOT NULL,
    concept TEXT NOT NULL,
    rank INTEGER NOT NULL,
    feature_id INTEGER NOT NULL,
    group_f1 REAL,
    ceiling_f1 REAL,
    best_auroc REAL,
    carried INTEGER NOT NULL DEFAULT 0,
    created TEXT NOT NULL,
    PRIMARY KEY (source, concept, rank)
) WITHOUT ROWID;
CREATE INDEX concept_groups_by_feature ON concept_groups(feature_id);
"""
"""v2: the features that together cover a concept (a scorecard's k-sparse probe group), so the
app can show a concept's feature group and, for a feature, the concepts it belongs to."""


def has_fts5(conn: sqlite3.Connection) -> bool:
    """Whether this SQLite build can create FTS5 tables."""
    try:
        conn.execute("CREATE VIRTUAL TABLE temp.fts5_probe USING fts5(x)")
        conn.execute("DROP TABLE temp.fts5_probe")
        return True
    except sqlite3.OperationalError:
        return False


def has_search_index(conn: sqlite3.Connection) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'label_search'"
    ).fetchone()
    return row is not None


def run_script(conn: sqlite3.Connection, script: str) -> None:
    """Execute statements one by one (``executescript`` would commit the open transaction)."""
    pending = ""
    for line in script.splitlines(keepends=True):
        if line.strip().startswith("--"):
            continue
        pending += line
        if sqlite3.complete_statement(pending):
            conn.execute(pending)
            pending = ""


def _create_v1(conn: sqlite3.Connection) -> None:
    run_script(conn, TABLES)
    if has_fts5(conn):
        run_script(conn, FTS)


def _add_concept_groups(conn: sqlite3.Connection) -> None:
    """v2: concept feature groups (``features/concept_groups.py`` reads and writes them)."""
    run_script(conn, CONCEPT_GROUPS)


def _add_feature_layouts(conn: sqlite3.Connection) -> None:
    """v3: cached feature-map layouts (``features/layout.py`` owns the table)."""
    from musae_core.features.layout import create_layout_table

    create_layout_table(conn)


def _add_group_directions(conn: sqlite3.Connection) -> None:
    """v4: which way each group member reads its concept (``concept_groups.direction``: -1
    where the concept is the feature's absence, e.g. "drums=false" and the drums feature)."""
    conn.execute("ALTER TABLE concept_groups ADD COLUMN direction INTEGER NOT NULL DEFAULT 1")


READABLE_FROM = 1
"""The oldest version a read-only open accepts as it is: every later migration only adds tables
(readers treat a missing table as empty) or columns with a default (readers take the default
when the column is missing), so an older file opens read-only unchanged."""

MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    0: _create_v1,
    1: _add_concept_groups,
    2: _add_feature_layouts,
    3: _add_group_directions,
}
"""from-version -> function bringing the schema to from-version + 1 (inside a transaction)."""


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Run every migration from the file's version up to ``target``, atomically."""
    version = schema_version(conn)
    if version >= target:
        return version
    conn.execute("BEGIN IMMEDIATE")
    try:
        while version < target:
            MIGRATIONS[version](conn)
            version += 1
            conn.execute(f"PRAGMA user_version = {version}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return version
