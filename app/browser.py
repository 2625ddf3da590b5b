"""Feature browser: a model/view table over the feature DB with search, filters, favourites.

The source model holds all rows (thousands are fine); the proxy filters and sorts on the UI
thread in C++-backed Qt code, and the DB's own label/description search runs on a worker.
"""

from __future__ import annotations

from PySide6.QtCore import (
    QAbstractTableModel,
    QMimeData,
    QModelIndex,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableView,
    QVBoxLayout,
    QWidget,
)

FEATURE_MIME = "application/x-musae-feature"
COLUMNS = (
    ("fav", "★"),
    ("id", "ID"),
    ("best_label", "Label"),
    ("label_source", "Source"),
    ("label_score", "Score"),
    ("clap_score", "CLAP"),
    ("steer_effect", "Steer"),
    ("clip_rate", "Rate"),
    ("flags", "Flags"),
)
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

    def set_rows(self, rows: list) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.position = {row.id: i for i, row in enumerate(self.rows)}
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: B008
        return len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.DisplayRole):
        if orientation == Qt.Horizontal and role == Qt.DisplayRole:
            return COLUMNS[section][1]
        return None

    def data(self, index, role=Qt.DisplayRole):
        row = self.rows[index.row()]
        key = COLUMNS[index.column()][0]
        if role == Qt.UserRole:
            return row
        if key == "fav":
            if role == Qt.CheckStateRole:
                return Qt.Checked if row.favourite else Qt.Unchecked
            return None
        if role == Qt.DisplayRole:
            if key == "flags":
                return _flags(row)
            value = getattr(row, key)
            if isinstance(value, float):
                return f"{value:.3f}"
            return "" if value is None else value
        if role == Qt.EditRole:  # sort key
            value = _flags(row) if key == "flags" else getattr(row, key)
            return -1e9 if value is None else value
        return None

    def flags(self, index):
        base = Qt.ItemIsEnabled | Qt.ItemIsSelectable | Qt.ItemIsDragEnabled
        return base | Qt.ItemIsUserCheckable if COLUMNS[index.column()][0] == "fav" else base

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
    """Search over id and label (plus DB matches on descriptions) and the flag filters."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.text = ""
        self.db_matches: set[int] | None = None
        self.active: set[str] = {"hide_dead"}
        self.setSortRole(Qt.EditRole)

    def set_text(self, text: str) -> None:
        self.text, self.db_matches = text.strip().lower(), None
        self.invalidateFilter()

    def set_db_matches(self, text: str, ids: set[int] | None) -> None:
        if text.strip().lower() == self.text:
            self.db_matches = ids
            self.invalidateFilter()

    def set_filter(self, name: str, on: bool) -> None:
        (self.active.add if on else self.active.discard)(name)
        self.invalidateFilter()

    def filterAcceptsRow(self, source_row: int, parent) -> bool:
        row = self.sourceModel().rows[source_row]
        if not all(test(row) for name, _, test in FILTERS if name in self.active):
            return False
        if not self.text:
            return True
        if self.db_matches is not None and row.id in self.db_matches:
            return True
        label = (row.best_label or "").lower()
        return all(word in label or word == str(row.id) for word in self.text.split())


class BrowserPanel(QWidget):
    """Search box, filter toggles and the table; selecting a row selects the feature."""

    def __init__(self, bench, parent=None) -> None:
        super().__init__(parent)
        self.bench = bench
        self.model = FeatureTableModel(self)
        self.proxy = FeatureFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self.search = QLineEdit(placeholderText="Search labels and descriptions… (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.count = QLabel("no feature database")
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(1, Qt.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setDragEnabled(True)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(20)
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.Stretch)
        self.table.setColumnWidth(0, 28)
        self.table.setColumnWidth(1, 50)
        self.checks: dict[str, QCheckBox] = {}
        filters = QHBoxLayout()
        for name, text, _ in FILTERS:
            box = QCheckBox(text)
            box.setChecked(name in self.proxy.active)
            box.toggled.connect(lambda on, n=name: self._filter(n, on))
            self.checks[name] = box
            filters.addWidget(box)
        filters.addStretch()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.search)
        layout.addLayout(filters)
        layout.addWidget(self.table)
        layout.addWidget(self.count)
        self._debounce = QTimer(self, singleShot=True, interval=200)
        self._debounce.timeout.connect(lambda: bench.search(self.search.text()))
        self.search.textChanged.connect(self._text)
        self.table.selectionModel().currentRowChanged.connect(self._current)
        self.table.doubleClicked.connect(self._add)
        self.model.favouriteToggled.connect(bench.set_favourite)
        bench.featuresLoaded.connect(self._rows)
        bench.searchMatched.connect(self._matches)
        bench.featureSelected.connect(self.reveal)

    def _rows(self, rows: list) -> None:
        self.model.set_rows(rows)
        self._update_count()

    def _text(self, text: str) -> None:
        self.proxy.set_text(text)
        self._update_count()
        self._debounce.start()

    def _matches(self, text: str, ids) -> None:
        self.proxy.set_db_matches(text, ids)
        self._update_count()

    def _filter(self, name: str, on: bool) -> None:
        self.proxy.set_filter(name, on)
        self._update_count()

    def _update_count(self) -> None:
        self.count.setText(f"{self.proxy.rowCount()} of {self.model.rowCount()} features")

    def row_at(self, proxy_row: int):
        return self.proxy.index(proxy_row, 0).data(Qt.UserRole)

    def _current(self, current, _previous) -> None:
        row = current.data(Qt.UserRole) if current.isValid() else None
        if row is not None and row.id != self.bench.selected_feature:
            self.bench.select_feature(row.id)

    def _add(self, index) -> None:
        row = index.data(Qt.UserRole)
        if row is not None and self.bench.steering_unavailable() is None:
            self.bench.add_feature(row.id, row.best_label or "")

    def reveal(self, feature: int) -> None:
        """Select ``feature`` in the table (e.g. after a neighbour jump) if it is visible."""
        source_row = self.model.position.get(feature)
        if source_row is None:
            return
        index = self.proxy.mapFromSource(self.model.index(source_row, 1))
        if index.isValid():
            if self.table.currentIndex().row() != index.row():
                self.table.setCurrentIndex(index)
            self.table.scrollTo(index)
