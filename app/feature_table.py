"""The feature table's model and filter proxy: columns, tooltips, the search filter, flags.

What a search matches and how well is the engine's rule (``musae_core.features.search``): the
proxy applies it to the shown labels at once, then the DB's ranked hits over every label and
description (from a worker) replace that guess; the Match column shows and sorts by them.
A chosen concept (``FeatureFilterProxy.set_concept``) shows exactly its group, in group order.
"""

from __future__ import annotations

from PySide6.QtCore import (
    QAbstractTableModel,
    QMimeData,
    QModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)

from musae_core.features.search import QUALITY_NAMES, SearchHit, match_quality

FEATURE_MIME = "application/x-musae-feature"
COLUMNS = (
    ("fav", "★"),
    ("id", "ID"),
    ("best_label", "Label"),
    ("match", "Match"),
    ("label_source", "Source"),
    ("label_score", "Score"),
    ("clap_score", "CLAP"),
    ("steer_effect", "Steer"),
    ("clip_rate", "Rate"),
    ("flags", "Flags"),
)
HEADER_TIPS = {
    "fav": "Favourite: tick to keep; '★ only' shows just these.",
    "best_label": "The feature's best label (validated labels first, then the highest score).",
    "match": "How the search matched: exact label > label starts with it > words in a label > "
    "words in a description. Shown while searching; results are ranked by it.",
    "label_source": "Which labeller wrote the label (descriptor, classifier, clap, llm).",
    "label_score": "The labeller's own strength for the label (effect size, contrast or "
    "confidence; 0-1).",
    "clap_score": "CLAP validation: how much closer CLAP puts the label to the top clips than to "
    "random clips. Empty until `musae label --method validate` has run (needs the CLAP model).",
    "steer_effect": "Steering effect: how far steering this feature moves the label's measure "
    "(from `musae eval-steering`); empty until measured.",
    "clip_rate": "Rate: fraction of clips whose mean activation passes the threshold.",
    "flags": "dead: never fires; rare: fires on very few clips; generic: fires on most clips.",
}
NUMBER_FORMAT = "{:.2f}"
SHORT_QUALITY = {4: "exact", 3: "prefix", 2: "words", 1: "desc."}
OPTIONAL_COLUMNS = ("clap_score", "steer_effect")  # hidden while no feature has a value
CONCEPT_RANK_ROLE = Qt.UserRole + 1  # a row's place in the chosen concept's group
HANDLED_ROLES = frozenset(
    {Qt.DisplayRole, Qt.EditRole, Qt.ToolTipRole, Qt.CheckStateRole, Qt.UserRole, CONCEPT_RANK_ROLE}
)
ROW_FLAGS = Qt.ItemIsEnabled | Qt.ItemIsSelectable | Qt.ItemIsDragEnabled  # built once: enum
FAV_FLAGS = ROW_FLAGS | Qt.ItemIsUserCheckable  # arithmetic is slow in PySide6 per cell
FILTERS = (
    ("hide_dead", "Hide dead", lambda r: not r.dead),
    ("hide_generic", "Hide generic", lambda r: not r.generic),
    ("hide_rare", "Hide rare", lambda r: not r.rare),
    ("labelled_only", "Labelled", lambda r: bool(r.best_label)),
    ("steerable_only", "Steerable", lambda r: bool(r.steers)),
    ("favourites_only", "★ only", lambda r: bool(r.favourite)),
)


def _flags(row) -> str:
    return " ".join(
        n for n, on in (("dead", row.dead), ("rare", row.rare), ("generic", row.generic)) if on
    )


class FeatureTableModel(QAbstractTableModel):
    """All FeatureRows; column ``fav`` is checkable (the favourite star)."""

    favouriteToggled = Signal(int, bool)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.rows: list = []
        self.position: dict[int, int] = {}
        self.hits: dict[int, SearchHit] = {}  # the current search's hits (Match column)
        self.concept_rank: dict[int, int] | None = None  # the chosen concept's members

    def set_rows(self, rows: list) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.position = {row.id: i for i, row in enumerate(self.rows)}
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: B008
        return len(COLUMNS)

    def set_hits(self, hits: dict[int, SearchHit]) -> None:
        self.hits = hits
        column = [key for key, _ in COLUMNS].index("match")
        if self.rows:
            self.dataChanged.emit(self.index(0, column), self.index(len(self.rows) - 1, column))

    def headerData(self, section, orientation, role=Qt.DisplayRole):
        if orientation != Qt.Horizontal:
            return None
        if role == Qt.DisplayRole:
            return COLUMNS[section][1]
        if role == Qt.ToolTipRole:
            return HEADER_TIPS.get(COLUMNS[section][0])
        return None

    def _match(self, row, role):
        hit = self.hits.get(row.id)
        if hit is None:
            return -1.0 if role == Qt.EditRole else ""
        if role == Qt.EditRole:
            return hit.rank_key
        if role == Qt.ToolTipRole:
            shown = "" if hit.is_best_label else " (another of its labels)"
            return f"“{hit.label}”{shown}: {QUALITY_NAMES[hit.quality]}"
        # another of the feature's labels matched: name it ("dark" found by its "drums" label)
        return SHORT_QUALITY[hit.quality] if hit.is_best_label or not hit.label else hit.label

    def data(self, index, role=Qt.DisplayRole):
        if role not in HANDLED_ROLES:  # Qt asks ~8 roles per painted cell; most are unused
            return None
        row = self.rows[index.row()]
        key = COLUMNS[index.column()][0]
        if role == Qt.UserRole:
            return row
        if role == CONCEPT_RANK_ROLE:  # every column sorts in group order while one is chosen
            return (self.concept_rank or {}).get(row.id, 1 << 30)
        if key == "fav":
            if role == Qt.CheckStateRole:
                return Qt.Checked if row.favourite else Qt.Unchecked
            return None
        if key == "match" and role in (Qt.DisplayRole, Qt.EditRole, Qt.ToolTipRole):
            return self._match(row, role)
        if role == Qt.ToolTipRole:
            if key == "best_label":
                return row.best_label or "unlabelled"
            if key == "clap_score" and row.clap_score is None:
                return "No CLAP validation: run `musae label --method validate` (CLAP model)."
            return None
        if role == Qt.DisplayRole:
            if key == "flags":
                return _flags(row)
            value = getattr(row, key)
            if isinstance(value, float):
                return NUMBER_FORMAT.format(value)
            return "" if value is None else value
        if role == Qt.EditRole:  # sort key
            value = _flags(row) if key == "flags" else getattr(row, key)
            return -1e9 if value is None else value
        return None

    def flags(self, index):
        return FAV_FLAGS if index.column() == 0 else ROW_FLAGS

    def setData(self, index, value, role=Qt.EditRole) -> bool:
        if role != Qt.CheckStateRole or COLUMNS[index.column()][0] != "fav":
            return False
        row = self.rows[index.row()]
        row.favourite = Qt.CheckState(value) == Qt.Checked
        self.dataChanged.emit(index, index)
        self.favouriteToggled.emit(row.id, row.favourite)
        return True

    def mimeTypes(self) -> list[str]:
        return [FEATURE_MIME]

    def mimeData(self, indexes) -> QMimeData:
        ids = sorted({self.rows[i.row()].id for i in indexes})
        mime = QMimeData()
        mime.setData(FEATURE_MIME, ",".join(map(str, ids)).encode())
        mime.setText(" ".join(f"#{i}" for i in ids))
        return mime


class FeatureFilterProxy(QSortFilterProxyModel):
    """Search (the engine's match rule), the flag filters and the concept filter."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.text = ""
        self.db_matches: dict[int, SearchHit] | None = None
        self.active: set[str] = {"hide_dead"}
        self.only_ids: frozenset[int] | None = None  # the feature map's lasso
        self.setSortRole(Qt.EditRole)

    def set_text(self, text: str) -> None:
        """Filter at once by the shown labels; ``set_db_matches`` then brings every label."""
        self.text, self.db_matches = text.strip().lower(), None
        model = self.sourceModel()
        model.set_hits(self._local_hits(model.rows) if self.text else {})
        self.invalidateFilter()

    def _local_hits(self, rows: list) -> dict[int, SearchHit]:
        hits = {}
        for row in rows:
            label = row.best_label or ""
            quality = 4 if self.text == str(row.id) else match_quality(self.text, label)
            if quality:
                hits[row.id] = SearchHit(row.id, quality, label, True, row.label_score or 0.0)
        return hits

    def set_db_matches(self, text: str, hits: dict[int, SearchHit] | None) -> None:
        if text.strip().lower() == self.text and hits is not None:
            self.db_matches = hits
            self.sourceModel().set_hits(hits)
            self.invalidateFilter()

    def set_filter(self, name: str, on: bool) -> None:
        (self.active.add if on else self.active.discard)(name)
        self.invalidateFilter()

    def set_only_ids(self, ids) -> None:
        """Show only these features (None: all); the map's lasso sets it."""
        self.only_ids = None if ids is None else frozenset(int(i) for i in ids)
        self.invalidateFilter()

    def set_concept(self, members: list[int] | None) -> None:
        """Show exactly ``members`` (a concept's group), sorted in group order; None: all.
        The flag filters step aside meanwhile: a dead member is still part of the group."""
        ranks = None if members is None else {int(j): i for i, j in enumerate(members)}
        self.sourceModel().concept_rank = ranks
        self.setSortRole(Qt.EditRole if ranks is None else CONCEPT_RANK_ROLE)
        self.invalidate()

    @property
    def concept_active(self) -> bool:
        return self.sourceModel().concept_rank is not None

    def filterAcceptsRow(self, source_row: int, parent) -> bool:
        model = self.sourceModel()
        row = model.rows[source_row]
        if self.only_ids is not None and row.id not in self.only_ids:
            return False
        if model.concept_rank is not None:
            return row.id in model.concept_rank and (not self.text or row.id in model.hits)
        if not all(test(row) for name, _, test in FILTERS if name in self.active):
            return False
        return not self.text or row.id in model.hits
