"""Which features to export: explicit ids, the top N by a stated order, all, or labelled ones."""

from __future__ import annotations

from typing import TYPE_CHECKING

from musae_core.errors import MusaeError

if TYPE_CHECKING:
    from musae_core.features.db import FeatureDB

TOP_ORDER = "label_score"
"""``--top N`` takes the N labelled features with the highest best-label score (ties by id)."""


def parse_ids(text: str) -> list[int]:
    """'1,2,5-7' -> [1, 2, 5, 6, 7] (order kept, duplicates dropped)."""
    ids: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            if "-" in part:
                low, high = part.split("-", 1)
                ids.extend(range(int(low), int(high) + 1))
            else:
                ids.append(int(part))
        except ValueError as exc:
            raise MusaeError(
                f"Bad --features value {part!r}.", "give feature ids like 1,2,3 or ranges like 5-9."
            ) from exc
    return list(dict.fromkeys(ids))


def select_features(
    db: FeatureDB,
    ids: list[int] | None = None,
    top: int | None = None,
    all_features: bool = False,
    labelled: bool = False,
) -> list[int]:
    """Feature ids to export, exactly one way chosen; unknown ids raise naming the valid range."""
    chosen = [ids is not None, top is not None, all_features, labelled]
    if sum(chosen) != 1:
        raise MusaeError(
            "Choose which features to export in exactly one way.",
            "pass one of --features 1,2,3, --top N, --all or --labelled.",
        )
    if ids is not None:
        for feature in ids:
            db.feature(feature)  # raises a MusaeError naming the valid ids
        if not ids:
            raise MusaeError("--features lists no feature ids.", "give ids like 1,2,3.")
        return list(ids)
    if top is not None:
        if top < 1:
            raise MusaeError(f"--top {top} selects nothing.", "give a positive number.")
        rows = db.query(labelled_only=True, sort=TOP_ORDER, descending=True, limit=top)
        return [row.id for row in rows]
    rows = db.query(labelled_only=labelled, sort="id")
    if not rows:
        raise MusaeError(
            f"{db.path} has no {'labelled ' if labelled else ''}features to export.",
            "label features first (`musae label`) or pass --all.",
        )
    return [row.id for row in rows]
