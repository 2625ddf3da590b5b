"""The SQL behind ``FeatureDB.query`` and ``search``: filters, label candidates, sorting.

Everything the table view needs lives in the ``features`` row (the best label is kept there by
the label writers), so a query over 30k features is one indexed scan with no joins.
"""

from __future__ import annotations

import json
from typing import Any

from musae_core.errors import MusaeError
from musae_core.features.search import content_words

ROW_COLUMNS = (
    "id",
    "best_label",
    "label_source",
    "label_score",
    "clap_score",
    "steers",
    "steer_effect",
    "frequency",
    "clip_rate",
    "max_activation",
    "dead",
    "rare",
    "generic",
    "favourite",
)
SORT_ALIASES = {"score": "label_score", "label": "best_label", "effect": "steer_effect"}
FLAG_FILTERS = {
    "hide_dead": "dead = 0",
    "hide_rare": "rare = 0",
    "hide_generic": "generic = 0",
    "labelled_only": "best_label IS NOT NULL",
    "steerable_only": "steers = 1",
    "favourites_only": "favourite = 1",
}


def sort_column(sort: str) -> str:
    """Validate a sort key (a row column or an alias) and return the column."""
    column = SORT_ALIASES.get(sort, sort)
    if column not in ROW_COLUMNS:
        raise MusaeError(
            f"Cannot sort features by {sort!r}.",
            f"use one of {', '.join(ROW_COLUMNS + tuple(SORT_ALIASES))}.",
        )
    return column


def candidate_labels(text: str, fts: bool) -> tuple[str, list[str]]:
    """SQL selecting label rows (feature_id, text, description, score, best_label) that hold
    every content word of ``text`` as a word prefix; ``search.rank_hits`` then applies the
    negation rules and ranks them. Empty SQL when ``text`` has no content words."""
    terms = content_words(text)
    if not terms:
        return "", []
    select = (
        "SELECT l.feature_id, l.text, l.description, l.score, f.best_label "
        "FROM labels l JOIN features f ON f.id = l.feature_id"
    )
    if fts:
        expression = " AND ".join(f'"{term}"*' for term in terms)
        sql = f"{select} WHERE l.id IN (SELECT rowid FROM label_search WHERE label_search MATCH ?)"
        return sql, [expression]
    likes = " AND ".join(
        "(l.text LIKE ? ESCAPE '\\' OR l.description LIKE ? ESCAPE '\\')" for _ in terms
    )
    params: list[str] = []
    for term in terms:
        pattern = "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        params += [pattern + "%", pattern + "%"]
    return f"{select} WHERE {likes}", params


def build_query(
    ids: list[int] | None,
    flags: dict[str, bool],
    sort: str,
    descending: bool,
    limit: int | None,
    offset: int,
) -> tuple[str, list[Any]]:
    """SQL and parameters selecting ``ROW_COLUMNS`` (NULLs sort last in either direction)."""
    column = sort_column(sort)
    where: list[str] = [FLAG_FILTERS[name] for name, on in flags.items() if on]
    params: list[Any] = []
    if ids is not None:  # a search's hits, passed as one JSON array parameter
        where.append("id IN (SELECT value FROM json_each(?))")
        params.append(json.dumps([int(i) for i in ids]))
    sql = f"SELECT {', '.join(ROW_COLUMNS)} FROM features"
    if where:
        sql += " WHERE " + " AND ".join(where)
    direction = "DESC" if descending else "ASC"
    sql += f" ORDER BY ({column} IS NULL), {column} {direction}"
    if column != "id":
        sql += ", id ASC"
    if limit is not None or offset:
        if (limit is not None and limit < 0) or offset < 0:
            raise MusaeError("limit and offset must not be negative.", "pass e.g. limit=100.")
        sql += " LIMIT ? OFFSET ?"
        params += [-1 if limit is None else int(limit), int(offset)]
    return sql, params
