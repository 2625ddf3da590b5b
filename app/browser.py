"""Feature browser: search box, filter toggles and the feature table.

Only the user's own clicks and keys change the inspected feature: a filter, sort or search
that moves the table keeps the user's row selected (or clears the selection when it is
filtered out) and never selects another feature. Searching shows the Match column and sorts
by it (best match first); clearing the search restores the previous sort. The Concept box
shows exactly one concept's feature group (from the scorecard), in group order.
"""

from __future__ import annotations

from contextlib import contextmanager

from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QGridLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.feature_table import (  # noqa: F401  (FEATURE_MIME: drag target of the mixer)
    COLUMNS,
    FEATURE_MIME,
    FILTERS,
    OPTIONAL_COLUMNS,
    FeatureFilterProxy,
    FeatureTableModel,
)
from musae_core.workstation.concepts import NO_GROUPS

MATCH_COLUMN = [key for key, _ in COLUMNS].index("match")
SAMPLE_TEXT = {  # the widest value each fixed column shows (sizes the column, never cut)
    "id": "00000",
    "label_source": "descriptor",
    "match": "prefix",
    "label_score": "-0.00",
    "clap_score": "-0.00",
    "steer_effect": "-0.00",
    "clip_rate": "0.00",
    "flags": "generic",  # dead, rare and generic exclude each other
}
FILTERS_PER_ROW = 3
ALL_CONCEPTS = "All concepts"
CONCEPT_TIP = (
    "Show exactly the features that together cover a concept (its scorecard group), in group "
    "order; the flag filters step aside meanwhile. Groups come from `musae demo score "
    "--write-db` or a sweep with a truth table."
)
LABEL_SAMPLE = "compressed dynamics"  # the longest demo label: shown whole at the default size


class BrowserPanel(QWidget):
    """Search box, filter toggles and the table; selecting a row selects the feature."""

    def __init__(self, bench, parent=None) -> None:
        super().__init__(parent)
        self.bench = bench
        self._quiet = False  # a filter/sort/reload is moving the table's current row
        self._sort_before_search: tuple[int, Qt.SortOrder] | None = None
        self._sort_before_concept: tuple[int, Qt.SortOrder] | None = None
        self.groups: dict = {}  # concept name -> ConceptGroup, for the Concept filter
        self._hidden_note = ""
        self.model = FeatureTableModel(self)
        self.proxy = FeatureFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self.search = QLineEdit(placeholderText="Search labels and descriptions… (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.search.setToolTip(
            "Words match label and description words by prefix; 'no drums' finds negated "
            "labels, 'drums' never does. Best matches first."
        )
        self.count = QLabel("no feature database")
        self.count.setWordWrap(True)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(1, Qt.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setDragEnabled(True)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(20)
        self._size_columns()
        self.table.setColumnHidden(MATCH_COLUMN, True)
        self.checks: dict[str, QCheckBox] = {}
        filters = QGridLayout()  # rows of three: the checkboxes must not set the dock's width
        for i, (name, text, _) in enumerate(FILTERS):
            box = QCheckBox(text)
            box.setChecked(name in self.proxy.active)
            box.toggled.connect(lambda on, n=name: self._filter(n, on))
            self.checks[name] = box
            filters.addWidget(box, i // FILTERS_PER_ROW, i % FILTERS_PER_ROW)
        filters.setColumnStretch(FILTERS_PER_ROW, 1)
        self.concept = QComboBox()
        self.concept.setToolTip(CONCEPT_TIP)
        self.concept.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.concept.setMinimumContentsLength(12)  # long names must not widen the dock
        self.concept.addItem(ALL_CONCEPTS)
        self.concept.setEnabled(False)
        self.concept.currentTextChanged.connect(self._concept)
        row = len(FILTERS) // FILTERS_PER_ROW + bool(len(FILTERS) % FILTERS_PER_ROW)
        filters.addWidget(QLabel("Concept"), row, 0)
        filters.addWidget(self.concept, row, 1, 1, FILTERS_PER_ROW - 1)
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

    def _size_columns(self) -> None:
        """Fixed columns as wide as their widest value or header; the label takes the rest."""
        header = self.table.horizontalHeader()
        metrics = self.table.fontMetrics()
        pad = 16  # cell margins and the sort arrow
        for column, (key, title) in enumerate(COLUMNS):
            if key == "best_label":
                header.setSectionResizeMode(column, QHeaderView.Stretch)
                continue
            sample = SAMPLE_TEXT.get(key, "")
            width = max(
                metrics.horizontalAdvance(sample), header.fontMetrics().horizontalAdvance(title)
            )
            header.setSectionResizeMode(column, QHeaderView.Interactive)
            self.table.setColumnWidth(column, max(width + pad, 28 if key == "fav" else 0))
        header.setMinimumSectionSize(24)

    def sizeHint(self) -> QSize:
        """Wide enough that every column (Match included, shown while searching) and a typical
        label show whole: no sideways scroll."""
        optional = {i for i, (key, _) in enumerate(COLUMNS) if key in OPTIONAL_COLUMNS}
        columns = sum(
            self.table.columnWidth(c)
            for c in range(len(COLUMNS))
            if c != 2 and not (c in optional and self.table.isColumnHidden(c))
        )
        label = self._label_width()
        scrollbar = self.table.verticalScrollBar().sizeHint().width()
        base = super().sizeHint()
        return QSize(columns + label + scrollbar + 14, base.height())

    def _label_width(self) -> int:
        """The label column wide enough for a typical label (``LABEL_SAMPLE``)."""
        return self.table.fontMetrics().horizontalAdvance(LABEL_SAMPLE) + 40

    def minimumSizeHint(self) -> QSize:
        """Every column but the label whole (a narrower dock would cut them or scroll sideways);
        the label column may shrink to a few words and elide, so a 1280-px screen still gives
        the inspector a readable width."""
        label = self._label_width()
        short = self.table.fontMetrics().horizontalAdvance("low register") + 16
        width = self.sizeHint().width() - max(0, label - short)
        return QSize(width, super().minimumSizeHint().height())

    @contextmanager
    def _keep_selection(self):
        """Refilter/resort without moving the inspector: keep (or clear) the user's row."""
        self._quiet = True
        try:
            yield
        finally:
            self.reveal(self.bench.selected_feature, scroll=False)
            self._quiet = False

    def _rows(self, rows: list) -> None:
        with self._keep_selection():
            self.model.set_rows(rows)
            if self.proxy.text:
                self.proxy.set_text(self.proxy.text)
        if self.search.text().strip():  # the database's own matches (descriptions, FTS) too,
            self._debounce.start()  # or an opened project shows only the local label matches
        self._hidden_note = self._hide_empty_columns(rows)
        self._update_count()
        session = self.bench.session
        self.bench.jobs.start(
            "concepts", "Reading concept groups", lambda p, c: session.concepts(), self._groups
        )

    def _groups(self, concepts) -> None:
        """Fill the Concept filter (keeping the chosen concept when it still has a group)."""
        chosen = self.concept.currentText()
        self.groups = dict(concepts.concepts)
        self.concept.blockSignals(True)
        self.concept.clear()
        self.concept.addItems([ALL_CONCEPTS, *self.groups])
        self.concept.setEnabled(bool(self.groups))
        self.concept.setToolTip(CONCEPT_TIP if self.groups else NO_GROUPS)
        self.concept.blockSignals(False)
        self.concept.setCurrentText(chosen if chosen in self.groups else ALL_CONCEPTS)
        self._concept(self.concept.currentText())

    def _concept(self, name: str) -> None:
        group = self.groups.get(name)
        if group is None and not self.proxy.concept_active:
            return
        with self._keep_selection():
            if group is not None and self._sort_before_concept is None:
                header = self.table.horizontalHeader()
                self._sort_before_concept = (
                    header.sortIndicatorSection(),
                    header.sortIndicatorOrder(),
                )
            self.proxy.set_concept(group.features if group is not None else None)
            if group is not None:
                self.table.sortByColumn(1, Qt.AscendingOrder)  # the sort role is group order
            elif self._sort_before_concept is not None:
                self.table.sortByColumn(*self._sort_before_concept)
                self._sort_before_concept = None
        for box in self.checks.values():
            box.setEnabled(group is None)
        self.table.scrollToTop()
        self._update_count()

    def _hide_empty_columns(self, rows: list) -> str:
        """Hide CLAP / Steer while no feature has a value (room for the rest); say why."""
        keys = [key for key, _ in COLUMNS]
        empty = []
        for key in OPTIONAL_COLUMNS:
            none = all(getattr(row, key) is None for row in rows)
            self.table.setColumnHidden(keys.index(key), none)
            if none:
                empty.append(COLUMNS[keys.index(key)][1])
        if not empty:
            return ""
        return (
            f" · {' and '.join(empty)} hidden: not measured in this database "
            "(`musae label --method validate`, `musae eval-steering`)"
        )

    def _text(self, text: str) -> None:
        searching = bool(text.strip())
        with self._keep_selection():
            self.table.setColumnHidden(MATCH_COLUMN, not searching)
            if searching and self._sort_before_search is None:
                header = self.table.horizontalHeader()
                self._sort_before_search = (
                    header.sortIndicatorSection(),
                    header.sortIndicatorOrder(),
                )
                self.table.sortByColumn(MATCH_COLUMN, Qt.DescendingOrder)
            elif not searching and self._sort_before_search is not None:
                self.table.sortByColumn(*self._sort_before_search)
                self._sort_before_search = None
            self.proxy.set_text(text)
        self.table.scrollToTop()
        self._update_count()
        self._debounce.start()

    def _matches(self, text: str, hits) -> None:
        with self._keep_selection():
            self.proxy.set_db_matches(text, hits)
        self._update_count()

    def _filter(self, name: str, on: bool) -> None:
        with self._keep_selection():
            self.proxy.set_filter(name, on)
        self._update_count()

    def restrict_to(self, ids) -> None:
        """Show only these feature ids (the map's lasso); None shows all again."""
        with self._keep_selection():
            self.proxy.set_only_ids(ids)
        self._update_count()

    def _update_count(self) -> None:
        concept = self.concept.currentText() if self.proxy.concept_active else ""
        shown = f"{self.proxy.rowCount()} of {self.model.rowCount()} features"
        text = self.search.text().strip()
        if text and not self.proxy.rowCount() and self.model.rowCount():
            shown += (
                f" · nothing matches “{text}” in labels or descriptions: try a broader word "
                "(an instrument, drums, bright, loud) or clear a filter"
            )
        if concept:
            shown += f" · the {concept} group, in group order"
            group = self.groups.get(concept)
            down = [j for j in group.features if group.direction(j) < 0] if group else []
            if down:
                ids = ", ".join(f"#{j}" for j in down)
                shown += f" ({ids}: the concept is where it is silent, turn it down)"
        self.count.setText(shown + self._hidden_note)

    def row_at(self, proxy_row: int):
        return self.proxy.index(proxy_row, 0).data(Qt.UserRole)

    def _current(self, current, _previous) -> None:
        if self._quiet:
            return
        row = current.data(Qt.UserRole) if current.isValid() else None
        if row is not None and row.id != self.bench.selected_feature:
            self.bench.select_feature(row.id)

    def _add(self, index) -> None:
        row = index.data(Qt.UserRole)
        if row is not None and self.bench.steering_unavailable() is None:
            self.bench.add_feature(row.id, row.best_label or "")

    def reveal(self, feature: int | None, scroll: bool = True) -> None:
        """Select ``feature`` in the table (e.g. after a neighbour jump) if it is visible;
        clear the table's selection when it is filtered out."""
        source_row = self.model.position.get(feature) if feature is not None else None
        index = (
            self.proxy.mapFromSource(self.model.index(source_row, 1))
            if source_row is not None
            else None
        )
        quiet, self._quiet = self._quiet, True
        try:
            if index is None or not index.isValid():
                self.table.selectionModel().clear()
                return
            if self.table.currentIndex() != index:
                self.table.setCurrentIndex(index)
            if scroll:
                self.table.scrollTo(index)
        finally:
            self._quiet = quiet
