"""``FeatureDB``: one SQLite file per analysed SAE (statistics, top clips, neighbours, labels).

WAL mode lets the GUI read while a labelling job writes; every write is one short transaction,
so a crash loses at most the transaction in flight and never corrupts the file. Snippets of top
clips live in a folder beside the file (``FEATURES.db`` -> ``FEATURES.snippets/``).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from musae_core import __version__
from musae_core.errors import MusaeError
from musae_core.features import schema
from musae_core.features.db_clips import ClipsMixin
from musae_core.features.guard import dump_json
from musae_core.features.labels import LabelsMixin
from musae_core.features.query import ROW_COLUMNS, build_query, candidate_labels
from musae_core.features.records import FeatureRecord, FeatureRow, FeatureStats
from musae_core.features.search import EXACT, SearchHit, rank_hits
from musae_core.timeutil import now

BUSY_TIMEOUT_S = 10.0


def snippet_dir_for(path: Path) -> Path:
    """Where the audio snippets of the database at ``path`` live."""
    return (
        path.with_name(path.stem + ".snippets")
        if path.suffix
        else path.with_name(path.name + ".snippets")
    )


def _bad_file(path: Path, detail: str) -> MusaeError:
    return MusaeError(
        f"{path} is not a readable musae feature database ({detail}).",
        "re-create it with `musae analyze --sae SAE --store STORE --out FILE --overwrite`.",
    )


class FeatureDB(ClipsMixin, LabelsMixin):
    """A feature database file; use ``create`` or ``open``, then as a context manager."""

    def __init__(self, path: Path, conn: sqlite3.Connection, readonly: bool) -> None:
        self.path = path
        self.readonly = readonly
        self._conn = conn
        self._lock = threading.RLock()
        self._meta: dict[str, Any] | None = None
        self._fts = schema.has_search_index(conn)

    # --- lifecycle ---------------------------------------------------------------------------
    @staticmethod
    def _connect(path: Path, readonly: bool) -> sqlite3.Connection:
        if readonly:
            target, uri = path.resolve().as_uri() + "?mode=ro", True
        else:
            target, uri = str(path), False
        conn = sqlite3.connect(
            target, uri=uri, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        conn.execute("PRAGMA foreign_keys = ON")
        if not readonly:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    @classmethod
    def create(
        cls, path: str | os.PathLike[str], meta: dict[str, Any], overwrite: bool = False
    ) -> FeatureDB:
        """A new, empty database at ``path`` holding ``meta`` (model, layer, SAE, store...)."""
        path = Path(path)
        if path.exists():
            if not overwrite:
                raise MusaeError(
                    f"Feature database {path} already exists.",
                    "pass --overwrite to replace it, or choose another --out.",
                )
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(str(path) + suffix).unlink(missing_ok=True)
        if not path.parent.is_dir():
            raise MusaeError(
                f"Cannot create {path}: folder {path.parent} does not exist.",
                "create the folder or choose another --out.",
            )
        try:
            conn = cls._connect(path, readonly=False)
            schema.migrate(conn)
            db = cls(path, conn, readonly=False)
            full = {"created": now(), "musae_version": __version__, **meta}
            with db._tx() as tx:
                tx.executemany(
                    "INSERT INTO meta(key, value) VALUES (?, ?)",
                    [("format", schema.FORMAT), ("meta", dump_json(full, "metadata"))],
                )
        except sqlite3.Error as exc:
            raise MusaeError(
                f"Cannot create feature database {path}: {exc}.",
                "check the folder is writable and the disk has space.",
            ) from exc
        return db

    @classmethod
    def open(cls, path: str | os.PathLike[str], readonly: bool = False) -> FeatureDB:
        """Open an existing database; migrates an older schema when opened read-write."""
        path = Path(path)
        if not path.is_file():
            raise MusaeError(
                f"Feature database {path} does not exist.",
                "run `musae analyze --sae SAE --store STORE --out FILE` first.",
            )
        if path.stat().st_size == 0:  # SQLite would happily turn it into an empty database
            raise MusaeError(
                f"Feature database {path} is empty (0 bytes): not a musae feature database.",
                "point at the file `musae analyze` wrote, or re-run `musae analyze`.",
            )
        try:
            conn = cls._connect(path, readonly)
            version = schema.schema_version(conn)
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        except sqlite3.DatabaseError as exc:
            raise _bad_file(path, f"corrupt or not SQLite: {exc}") from exc
        try:
            if version > schema.SCHEMA_VERSION:
                raise MusaeError(
                    f"{path} has feature-database schema {version}; this musae reads up to "
                    f"{schema.SCHEMA_VERSION}.",
                    "update musae to open it.",
                )
            if "meta" not in tables:
                raise _bad_file(path, "no musae metadata table")
            row = conn.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
            if row is None or row[0] != schema.FORMAT:
                raise _bad_file(path, f"format is {row[0] if row else None!r}")
            if version < schema.SCHEMA_VERSION:
                if readonly and version >= schema.READABLE_FROM:
                    return cls(path, conn, readonly)  # additive migrations: read as it is
                if readonly:
                    raise MusaeError(
                        f"{path} uses an older schema ({version}).",
                        "open it once read-write so musae can migrate it.",
                    )
                schema.migrate(conn)
        except MusaeError:
            conn.close()
            raise
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise _bad_file(path, str(exc)) from exc
        return cls(path, conn, readonly)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None  # type: ignore[assignment]

    def checkpoint(self) -> None:
        """Fold the WAL into the main file (before the file is moved or copied)."""
        with self._lock:
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def __enter__(self) -> FeatureDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- plumbing ----------------------------------------------------------------------------
    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction (taken immediately, so readers never block it long)."""
        if self.readonly:
            raise MusaeError(f"{self.path} was opened read-only.", "open it with readonly=False.")
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def has_table(self, name: str) -> bool:
        """Whether the file has table ``name`` (a read-only older file lacks later tables)."""
        return bool(
            self._rows("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
        )

    def _rows(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(sql, tuple(params)).fetchall()

    def _check_id(self, feature_id: int) -> int:
        feature_id = int(feature_id)
        if self._rows("SELECT 1 FROM features WHERE id = ?", (feature_id,)):
            return feature_id
        low, high = self._rows("SELECT min(id), max(id) FROM features")[0]
        valid = "the database has no features" if low is None else f"valid ids are {low}-{high}"
        raise MusaeError(
            f"Feature {feature_id} is not in {self.path}; {valid}.",
            "pick a feature id from the feature table.",
        )

    # --- metadata ----------------------------------------------------------------------------
    def meta(self) -> dict[str, Any]:
        """What was analysed: model_id, layer, hook_name, d_model, d_sae, paths, thresholds..."""
        if self._meta is None:
            self._meta = json.loads(self._rows("SELECT value FROM meta WHERE key = 'meta'")[0][0])
        return dict(self._meta)

    def update_meta(self, **changes: Any) -> None:
        meta = {**self.meta(), **changes}
        with self._tx() as conn:
            conn.execute(
                "UPDATE meta SET value = ? WHERE key = 'meta'", (dump_json(meta, "metadata"),)
            )
        self._meta = meta

    def feature_count(self) -> int:
        return int(self._rows("SELECT count(*) FROM features")[0][0])

    @property
    def snippet_dir(self) -> Path:
        return snippet_dir_for(self.path)

    # --- analysis writers --------------------------------------------------------------------
    def write_features(self, rows: Iterable[FeatureStats]) -> int:
        """Insert or refresh statistics of many features in one transaction (labels kept)."""
        values = [
            (
                s.id,
                float(s.frequency),
                float(s.clip_rate),
                float(s.max_activation),
                float(s.mean_activation),
                dump_json(s.quantiles, "quantiles"),
                dump_json(s.histogram, "histogram"),
                dump_json(s.clip_histogram, "histogram"),
                int(s.dead),
                int(s.rare),
                int(s.generic),
            )
            for s in rows
        ]
        with self._tx() as conn:
            conn.executemany(
                "INSERT INTO features(id, frequency, clip_rate, max_activation, mean_activation, "
                "quantiles, histogram, clip_histogram, dead, rare, generic) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
                "frequency = excluded.frequency, clip_rate = excluded.clip_rate, "
                "max_activation = excluded.max_activation, "
                "mean_activation = excluded.mean_activation, quantiles = excluded.quantiles, "
                "histogram = excluded.histogram, clip_histogram = excluded.clip_histogram, "
                "dead = excluded.dead, rare = excluded.rare, generic = excluded.generic",
                values,
            )
        return len(values)

    # --- readers -----------------------------------------------------------------------------
    def feature(self, feature_id: int) -> FeatureRecord:
        """Everything known about one feature; unknown ids raise naming the valid range."""
        feature_id = self._check_id(feature_id)
        row = self._rows(
            "SELECT id, frequency, clip_rate, max_activation, mean_activation, quantiles, "
            "histogram, clip_histogram, dead, rare, generic, favourite, best_label, "
            "label_source, label_score, clap_score, steers, steer_effect, description "
            "FROM features WHERE id = ?",
            (feature_id,),
        )[0]
        hist, clip_hist = json.loads(row[6]), json.loads(row[7])
        return FeatureRecord(
            id=row[0],
            frequency=row[1],
            clip_rate=row[2],
            max_activation=row[3],
            mean_activation=row[4],
            quantiles=json.loads(row[5]),
            histogram=(hist[0], hist[1]),
            clip_histogram=(clip_hist[0], clip_hist[1]),
            dead=bool(row[8]),
            rare=bool(row[9]),
            generic=bool(row[10]),
            favourite=bool(row[11]),
            best_label=row[12],
            label_source=row[13],
            label_score=row[14],
            clap_score=row[15],
            steers=None if row[16] is None else bool(row[16]),
            steer_effect=row[17],
            description=row[18] or "",
        )

    def query(
        self,
        text: str | None = None,
        hide_dead: bool = False,
        hide_rare: bool = False,
        hide_generic: bool = False,
        labelled_only: bool = False,
        steerable_only: bool = False,
        favourites_only: bool = False,
        ids: Iterable[int] | None = None,
        sort: str = "id",
        descending: bool = False,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[FeatureRow]:
        """Feature table rows: ``search`` hits for ``text`` (negation-aware), filter flags, sort
        by a column (``sort="match", descending=True``: best match first)."""
        flags = {
            "hide_dead": hide_dead,
            "hide_rare": hide_rare,
            "hide_generic": hide_generic,
            "labelled_only": labelled_only,
            "steerable_only": steerable_only,
            "favourites_only": favourites_only,
        }
        hits = self.search(text) if text and text.strip() else None
        if ids is not None:  # only these features (e.g. a feature's neighbours)
            wanted = {int(i) for i in ids}
            hits = None if hits is None else [h for h in hits if h.feature_id in wanted]
            ids = sorted(wanted) if hits is None else [h.feature_id for h in hits]
        else:
            ids = None if hits is None else [hit.feature_id for hit in hits]
        by_match, page = sort == "match", (limit, offset)
        if by_match:  # the search's own order (best match first when descending)
            sort, limit, offset = "id", None, 0
        sql, params = build_query(ids, flags, sort, descending, limit, offset)
        rows = self._rows(sql, params)
        if by_match:
            order = {fid: i for i, fid in enumerate(ids or [])}
            rows.sort(key=lambda r: order.get(r[0], 0), reverse=not descending)
            rows = rows[page[1] : None if page[0] is None else page[1] + page[0]]
        out = []
        for r in rows:
            row = FeatureRow(*r)
            row.dead, row.rare, row.generic = bool(r[10]), bool(r[11]), bool(r[12])
            row.favourite = bool(r[13])
            row.steers = None if r[5] is None else bool(r[5])
            out.append(row)
        return out

    def search(self, text: str) -> list[SearchHit]:
        """Features whose labels match ``text``, best match first.

        "drums" does not find "no drums" (see ``musae_core.features.search``); a number also
        finds the feature with that id (as an exact match)."""
        sql, params = candidate_labels(text, self._fts)
        hits = rank_hits(text, self._rows(sql, params)) if sql else []
        words = text.split()
        if len(words) == 1 and words[0].isdigit():
            row = self._rows(
                "SELECT id, best_label, label_score FROM features WHERE id = ?", (int(words[0]),)
            )
            if row:
                fid, label, score = row[0]
                hits = [h for h in hits if h.feature_id != fid]
                hits.insert(0, SearchHit(fid, EXACT, label or "", True, float(score or 0.0)))
        return hits

    def column_names(self) -> tuple[str, ...]:
        """Columns of ``FeatureRow`` in order (for table views)."""
        return ROW_COLUMNS
