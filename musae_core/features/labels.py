"""Labels, validation, favourites, steering outcomes and job bookkeeping of a FeatureDB.

Every labeller adds labels; none overwrites another. The feature row keeps a copy of the best
label (highest CLAP validation, then highest clip AUROC, then highest score) so the table can
sort and filter on it.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from musae_core.errors import MusaeError
from musae_core.features.guard import dump_json, redact, refuse_secret
from musae_core.features.records import FeatureError, Label, SteeringRecord
from musae_core.timeutil import now

# CLAP-validated labels first (the paper's check), then labels validated over clips (an AUROC:
# association labels), then the rest by their own score: scores of different labellers are on
# different scales, so an unvalidated score never outranks a validation
BEST_LABEL_ORDER = (
    "clap_score IS NULL, clap_score DESC, auroc IS NULL, auroc DESC, score DESC, id ASC"
)


def _finite_or_none(value: Any, what: str) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


class LabelsMixin:
    """The label/job half of ``FeatureDB`` (uses its ``_tx``, ``_rows`` and ``_check_id``)."""

    if TYPE_CHECKING:  # FeatureDB's plumbing, which this mixin uses
        path: Path

        @property
        def snippet_dir(self) -> Path: ...
        def _tx(self) -> AbstractContextManager[sqlite3.Connection]: ...
        def _rows(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]: ...
        def _check_id(self, feature_id: int) -> int: ...

    def _refresh_best(self, conn, feature_id: int) -> None:
        best = conn.execute(
            f"SELECT text, source, score, clap_score, description FROM labels "
            f"WHERE feature_id = ? ORDER BY {BEST_LABEL_ORDER} LIMIT 1",
            (feature_id,),
        ).fetchone()
        if best is None:
            conn.execute(
                "UPDATE features SET best_label = NULL, label_source = NULL, label_score = NULL, "
                "clap_score = NULL, description = '' WHERE id = ?",
                (feature_id,),
            )
            return
        description = best[4] or ""
        if not description:  # fall back to any labeller's description (e.g. the LLM's)
            other = conn.execute(
                "SELECT description FROM labels WHERE feature_id = ? AND description != '' "
                "ORDER BY id DESC LIMIT 1",
                (feature_id,),
            ).fetchone()
            description = other[0] if other else ""
        conn.execute(
            "UPDATE features SET best_label = ?, label_source = ?, label_score = ?, "
            "clap_score = ?, description = ? WHERE id = ?",
            (best[0], best[1], best[2], best[3], description, feature_id),
        )

    # --- labels ------------------------------------------------------------------------------
    def add_label(
        self,
        feature_id: int,
        source: str,
        text: str,
        score: float,
        evidence: dict,
        description: str = "",
        clap_score: float | None = None,
        auroc: float | None = None,
    ) -> int:
        """Store a new label (never replacing another) and return its id; ``auroc`` is its
        validation over clips where the labeller measured one (association labels)."""
        feature_id = self._check_id(feature_id)
        score_value = _finite_or_none(score, "score")
        if score_value is None:
            raise MusaeError(
                f"Label {text!r} of feature {feature_id} has no finite score.",
                "labellers must give every label a finite score.",
            )
        row = (
            feature_id,
            refuse_secret(str(source), "a label source"),
            refuse_secret(str(text), "a label"),
            score_value,
            dump_json(evidence or {}, "label evidence"),
            refuse_secret(str(description or ""), "a label description"),
            _finite_or_none(clap_score, "clap_score"),
            _finite_or_none(auroc, "auroc"),
            now(),
        )
        with self._tx() as conn:
            cursor = conn.execute(
                "INSERT INTO labels(feature_id, source, text, score, evidence, description, "
                "clap_score, auroc, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
            label_id = cursor.lastrowid
            assert label_id is not None  # every INSERT sets it
            self._refresh_best(conn, feature_id)
        return label_id

    def labels(self, feature_id: int) -> list[Label]:
        """Every label of a feature, oldest first."""
        feature_id = self._check_id(feature_id)
        rows = self._rows(
            "SELECT id, feature_id, source, text, score, evidence, description, clap_score, "
            "auroc, created FROM labels WHERE feature_id = ? ORDER BY id",
            (feature_id,),
        )
        return [
            Label(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), r[6], r[7], r[8], r[9])
            for r in rows
        ]

    def set_label_validation(
        self, label_id: int, clap_score: float | None, auroc: float | None
    ) -> None:
        """Record a label's CLAP contrast score and AUROC (may change the best label)."""
        with self._tx() as conn:
            row = conn.execute(
                "SELECT feature_id FROM labels WHERE id = ?", (int(label_id),)
            ).fetchone()
            if row is None:
                raise MusaeError(
                    f"Label {label_id} is not in {self.path}.",
                    "validate labels listed by db.labels(feature).",
                )
            conn.execute(
                "UPDATE labels SET clap_score = ?, auroc = ? WHERE id = ?",
                (
                    _finite_or_none(clap_score, "clap_score"),
                    _finite_or_none(auroc, "auroc"),
                    int(label_id),
                ),
            )
            self._refresh_best(conn, int(row[0]))

    def set_favourite(self, feature_id: int, favourite: bool = True) -> None:
        feature_id = self._check_id(feature_id)
        with self._tx() as conn:
            conn.execute(
                "UPDATE features SET favourite = ? WHERE id = ?", (int(bool(favourite)), feature_id)
            )

    # --- steering ----------------------------------------------------------------------------
    def set_steering(
        self, feature_id: int, steers: bool, effect: float | None, evidence: dict
    ) -> None:
        """Store the outcome of the steering evaluation of one feature (replaces the last)."""
        feature_id = self._check_id(feature_id)
        payload = dump_json(evidence or {}, "steering evidence")
        with self._tx() as conn:
            conn.execute(
                "UPDATE features SET steers = ?, steer_effect = ?, steer_evidence = ?, "
                "steer_updated = ? WHERE id = ?",
                (int(bool(steers)), _finite_or_none(effect, "effect"), payload, now(), feature_id),
            )

    def steering(self, feature_id: int) -> SteeringRecord | None:
        """The stored steering outcome, or None if the feature was never evaluated."""
        feature_id = self._check_id(feature_id)
        row = self._rows(
            "SELECT steers, steer_effect, steer_evidence, steer_updated FROM features WHERE id = ?",
            (feature_id,),
        )[0]
        if row[0] is None:
            return None
        return SteeringRecord(
            feature_id, bool(row[0]), row[1], json.loads(row[2] or "{}"), row[3] or ""
        )

    # --- job bookkeeping ---------------------------------------------------------------------
    def record_error(self, feature_id: int, job: str, message: str) -> None:
        """Remember why ``job`` failed on a feature (keys are redacted, never stored); one row
        per feature and job, the latest attempt's."""
        with self._tx() as conn:
            conn.execute(
                "DELETE FROM job_errors WHERE feature_id = ? AND job = ?",
                (int(feature_id), str(job)),
            )
            conn.execute(
                "INSERT INTO job_errors(feature_id, job, message, created) VALUES (?, ?, ?, ?)",
                (int(feature_id), str(job), redact(str(message)), now()),
            )

    def errors(self, job: str | None = None) -> list[FeatureError]:
        """Open errors (those of features the job has since finished are cleared)."""
        sql = "SELECT feature_id, job, message, created FROM job_errors"
        params: tuple = ()
        if job is not None:
            sql, params = sql + " WHERE job = ?", (job,)
        return [FeatureError(*r) for r in self._rows(sql + " ORDER BY id", params)]

    def done(self, feature_id: int, job: str) -> bool:
        return bool(
            self._rows(
                "SELECT 1 FROM job_done WHERE feature_id = ? AND job = ?", (int(feature_id), job)
            )
        )

    def mark_done(self, feature_id: int, job: str) -> None:
        """Mark ``job`` finished for a feature; its earlier errors for that job are cleared."""
        with self._tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO job_done VALUES (?, ?, ?)",
                (int(feature_id), str(job), now()),
            )
            conn.execute(
                "DELETE FROM job_errors WHERE feature_id = ? AND job = ?",
                (int(feature_id), str(job)),
            )
