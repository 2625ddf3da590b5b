"""Concept feature groups in the feature database (``concept_groups`` table, schema v2).

A scorecard (``musae demo score --write-db``) finds, per concept, the few features whose
k-sparse probe reaches 90 % of the full probe (``features.concepts``); this module stores those
groups and reads them back, by concept or by feature, for the app's inspector and browser.
Writing replaces every group of the same ``source`` in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from musae_core.features.db import FeatureDB


@dataclass
class ConceptGroup:
    concept: str
    features: list[int]  # in the scorecard's order (largest mean difference first)
    source: str
    group_f1: float | None = None  # held-out F1 of the k-sparse probe on these features
    ceiling_f1: float | None = None  # the full probe's held-out F1
    best_auroc: float | None = None  # the best single feature's held-out AUROC
    carried: bool = False
    created: str = field(default="")
    # per member: +1 the feature fires with the concept, -1 the concept is where it is silent
    # ("drums=false" and the drums feature: turn it down to push toward the concept)
    directions: list[int] = field(default_factory=list)

    def direction(self, feature: int) -> int:
        """+1 or -1 for a member (+1 when the group stored none)."""
        i = self.features.index(feature)
        return self.directions[i] if i < len(self.directions) else 1


def groups_from_report(rows: list[dict], source: str) -> list[ConceptGroup]:
    """Groups from ``ConceptReport.rows`` for the concepts the layer carries (a group for a
    concept it does not carry would only show noise): the features reaching 90 % of the full
    probe, or, where none of the k scanned does, the largest k scanned (``group_f1`` says how
    far it gets)."""
    out = []
    for r in rows:
        group = r.get("group") or []
        if not group or not r.get("carried"):
            continue
        k = r.get("features_to_90pct") or len(group)  # not reached: the largest k scanned
        ceiling = r.get("probe_f1_resid")
        out.append(
            ConceptGroup(
                r["name"],
                [int(j) for j in group],
                source,
                r.get("k_sparse_f1", {}).get(str(k)),
                r.get("probe_f1_codes") if ceiling is None else ceiling,
                r.get("auroc"),
                bool(r.get("carried")),
                directions=[int(d) for d in r.get("group_directions") or []],
            )
        )
    return out


def write_concept_groups(db: FeatureDB, groups: list[ConceptGroup], source: str) -> int:
    """Replace ``source``'s groups with ``groups``; returns the rows written."""
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S%z")
    rows = [
        (
            source,
            g.concept,
            rank,
            int(j),
            g.group_f1,
            g.ceiling_f1,
            g.best_auroc,
            int(g.carried),
            now,
            g.direction(j),
        )
        for g in groups
        for rank, j in enumerate(g.features)
    ]
    with db._tx() as conn:
        conn.execute("DELETE FROM concept_groups WHERE source = ?", (source,))
        conn.executemany(
            "INSERT INTO concept_groups (source, concept, rank, feature_id, group_f1, ceiling_f1,"
            " best_auroc, carried, created, direction) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    return len(rows)


def concept_groups(db: FeatureDB, feature_id: int | None = None) -> list[ConceptGroup]:
    """Every stored group, or only those that hold ``feature_id``; by source, then concept.
    Empty for a database older than the table (opened read-only, it is not migrated)."""
    if not db.has_table("concept_groups"):
        return []
    columns = {row[1] for row in db._rows("PRAGMA table_info(concept_groups)")}
    direction = "direction" if "direction" in columns else "1"  # a v2/v3 file read as it is
    sql = (
        "SELECT source, concept, rank, feature_id, group_f1, ceiling_f1, best_auroc, carried,"
        f" created, {direction} FROM concept_groups"
    )
    params: tuple = ()
    if feature_id is not None:
        sql += (
            " WHERE (source, concept) IN (SELECT source, concept FROM concept_groups"
            " WHERE feature_id = ?)"
        )
        params = (int(feature_id),)
    groups: dict[tuple[str, str], ConceptGroup] = {}
    for src, concept, _, j, f1, ceiling, auroc, carried, created, sign in db._rows(
        sql + " ORDER BY source, concept, rank", params
    ):
        g = groups.setdefault(
            (src, concept),
            ConceptGroup(concept, [], src, f1, ceiling, auroc, bool(carried), created),
        )
        g.features.append(int(j))
        g.directions.append(-1 if int(sign) < 0 else 1)
    return list(groups.values())
