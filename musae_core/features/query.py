"""The SQL behind ``FeatureDB.query``: filters, label search and validated sorting.

Everything the table view needs lives in the ``features`` row (the best label is kept there by
the label writers), so a query over 30k features is one indexed scan with no joins.
"""

from __future__ import annotations

import re

from musae_core.errors import MusaeError

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


def search_terms(text: str) -> list[str]:
    """Words of a search box entry (punctuation and FTS syntax dropped)."""
    return re.findall(r"\w+", text.lower())


def text_filter(text: str, fts: bool) -> tuple[str, list]:
    """A WHERE clause matching features whose labels (text or description) hold every word.

    Words match as prefixes ('pian' finds 'piano'); a number also matches the feature id.
    """
    terms = search_terms(text)
    if not terms:
        return "", []
    if fts:
        expression = " AND ".join(f'"{term}"*' for term in terms)
        clause = (
            "id IN (SELECT l.feature_id FROM labels l JOIN label_search s ON s.rowid = l.id "
            "WHERE label_search MATCH ?)"
        )
        params: list = [expression]
    else:
        likes = " AND ".join(
            "(l.text LIKE ? ESCAPE '\\' OR l.description LIKE ? ESCAPE '\\')" for _ in terms
        )
        clause = f"id IN (SELECT l.feature_id FROM labels l WHERE {likes})"
        params = []
        for term in terms:
            pattern = "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            params += [pattern + "%", pattern + "%"]
    if len(terms) == 1 and terms[0].isdigit():
        clause = f"({clause} OR id = ?)"
        params.append(int(terms[0]))
    return clause, params


def build_query(
    text: str | None,
    flags: dict[str, bool],
    sort: str,
    descending: bool,
    limit: int | None,
    offset: int,
    fts: bool,
) -> tuple[str, list]:
    """SQL and parameters selecting ``ROW_COLUMNS`` (NULLs sort last in either direction)."""
    column = sort_column(sort)
    where: list[str] = [FLAG_FILTERS[name] for name, on in flags.items() if on]
    params: list = []
    if text:
        clause, text_params = text_filter(text, fts)
        if clause:
            where.append(clause)
            params += text_params
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
