"""Feature map dock: every feature as a point (decoder directions laid out in 2-D).

Colour by the shown label (the most common labels get colours, the rest grey) or by whether
the feature steers; size by firing frequency. Hover names the feature, a click selects it in
the browser and inspector, a lasso filters the browser to the points inside, and the browser's
filter greys out what it hides. One ScatterPlotItem draws all points and hover/click find the
point through a KD-tree, so tens of thousands of features stay interactive.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QCursor
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QToolTip,
    QVBoxLayout,
    QWidget,
)
from scipy.spatial import cKDTree

from musae_core.features.layout import FeatureLayout

TOP_LABELS = 10
PALETTE = (
    "#e6194b",
    "#3cb44b",
    "#ffe119",
    "#4363d8",
    "#f58231",
    "#911eb4",
    "#46f0f0",
    "#f032e6",
    "#bcf60c",
    "#fabebe",
)
OTHER, UNLABELLED, GREYED = "#8a8f98", "#555a62", "#2c2f34"
STEERS = {True: "#3cb44b", False: "#e6194b", None: "#555a62"}
HOVER_PX = 8  # how close (screen pixels) the pointer must be to a point to name it
SIZE_PX = (3.0, 10.0)  # rarest .. most frequent feature
LAYOUT_METHOD = "auto"  # Compute map: UMAP when umap-learn is installed, else PCA


def points_in_polygon(xy: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Even-odd rule: which rows of ``xy`` (n, 2) lie inside ``polygon`` (m, 2), vectorised."""
    x, y = xy[:, 0], xy[:, 1]
    inside = np.zeros(len(xy), dtype=bool)
    if len(polygon) < 3:
        return inside
    x0, y0 = polygon[:, 0], polygon[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    for ax, ay, bx, by in zip(x0, y0, x1, y1, strict=True):
        crosses = (ay > y) != (by > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            at = ax + (y - ay) * (bx - ax) / (by - ay)
        inside ^= crosses & (x < at)
    return inside


class MapViewBox(pg.ViewBox):
    """A ViewBox whose left drag draws a lasso while ``lasso`` is on (pans otherwise)."""

    lassoFinished = Signal(object)  # (m, 2) polygon in view coordinates

    def __init__(self) -> None:
        super().__init__()
        self.lasso = False
        self._path: list[tuple[float, float]] = []
        self.outline = pg.PlotCurveItem(pen=pg.mkPen("#ffffff", width=1, style=Qt.DashLine))
        self.addItem(self.outline, ignoreBounds=True)

    def mouseDragEvent(self, ev, axis=None) -> None:
        if not self.lasso or ev.button() != Qt.LeftButton:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        point = self.mapSceneToView(ev.scenePos())
        if ev.isStart():
            self._path = []
        self._path.append((point.x(), point.y()))
        path = np.array(self._path + self._path[:1])
        self.outline.setData(path[:, 0], path[:, 1])
        if ev.isFinish():
            self.outline.setData([], [])
            self.lassoFinished.emit(np.array(self._path))


class FeatureMapPanel(QWidget):
    """The map of all features; reads the cached layout, computes it on request (a job)."""

    def __init__(self, bench, browser, parent=None) -> None:
        super().__init__(parent)
        self.bench, self.browser = bench, browser
        self.layout_: FeatureLayout | None = None
        self.rows: dict[int, object] = {}
        self.visible: np.ndarray | None = None  # what the browser's filter shows
        self.lassoed: np.ndarray | None = None
        self.hovered: int | None = None
        self.draw_order = np.arange(0)  # scatter point k is feature draw_order[k]
        self.hover_text = ""
        self._tree: cKDTree | None = None
        self.colour_by = QComboBox()
        self.colour_by.addItems(["label", "steers"])
        self.colour_by.setToolTip("Colour points by their label (most common labels) or steering")
        self.colour_by.currentTextChanged.connect(lambda _t: self.redraw())
        self.lasso_button = QPushButton("Lasso", checkable=True)
        self.lasso_button.setToolTip("Drag around points to show only them in the browser")
        self.lasso_button.toggled.connect(self._lasso_mode)
        self.clear_button = QPushButton("Show all", enabled=False)
        self.clear_button.clicked.connect(self.clear_lasso)
        self.compute_button = QPushButton("Compute map", enabled=False)
        self.compute_button.setToolTip("Lay out the SAE's decoder directions (once per SAE)")
        self.compute_button.clicked.connect(self.compute)
        self.status = QLabel("no feature database")
        self.status.setWordWrap(True)
        self.legend = QLabel()
        self.legend.setWordWrap(True)
        self.view = MapViewBox()
        self.view.setAspectLocked(True)
        self.view.lassoFinished.connect(self.apply_lasso)
        self.plot = pg.PlotWidget(viewBox=self.view)
        self.plot.hideAxis("left")
        self.plot.hideAxis("bottom")
        self.scatter = pg.ScatterPlotItem(pxMode=True, pen=None)
        self.marker = pg.ScatterPlotItem(
            pxMode=True, size=16, brush=None, pen=pg.mkPen("#ffffff", width=2)
        )
        self.view.addItem(self.scatter)
        self.view.addItem(self.marker)
        tools = QHBoxLayout()
        for widget in (QLabel("Colour"), self.colour_by, self.lasso_button, self.clear_button):
            tools.addWidget(widget)
        tools.addStretch()
        tools.addWidget(self.compute_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(tools)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.legend)
        layout.addWidget(self.status)
        self._filter_timer = QTimer(self, singleShot=True, interval=0)
        self._filter_timer.timeout.connect(self.sync_filter)
        proxy = browser.proxy
        for signal in (
            proxy.layoutChanged,
            proxy.modelReset,
            proxy.rowsInserted,
            proxy.rowsRemoved,
        ):
            signal.connect(lambda *_a: self._filter_timer.start())
        self.plot.scene().sigMouseMoved.connect(self.hover_at_scene)
        self.plot.scene().sigMouseClicked.connect(self._clicked)
        bench.resourcesChanged.connect(self.load)
        bench.featuresLoaded.connect(self.set_rows)
        bench.featureSelected.connect(self._mark)

    # --- data ------------------------------------------------------------------------------
    def load(self) -> None:
        """Read the cached layout of the open DB (the loaded SAE's, else the newest) on a job."""
        session = self.bench.session
        db, sae = session.db, session.sae
        self.compute_button.setEnabled(db is not None and sae is not None)
        if db is None:
            self.set_layout(None, "no feature database")
            return

        def work(progress, cancel):
            from musae_core.features.layout import decoder_hash, decoder_rows, load_layout

            layout = load_layout(db, decoder_hash(decoder_rows(sae)) if sae is not None else None)
            ok = layout is not None and layout.count == db.feature_count()
            return layout if ok else None

        self.bench.jobs.start("map", "Reading the feature map", work, self._loaded)

    def _loaded(self, layout: FeatureLayout | None) -> None:
        if layout is not None:
            self.set_layout(layout)
        elif self.bench.session.sae is not None:
            self.set_layout(None, "No map for this SAE yet: press Compute map (once per SAE).")
        else:
            self.set_layout(
                None,
                "No map cached: open the SAE (File > Open SAE) and press "
                "Compute map, or run `musae map --db DB --sae SAE`.",
            )

    def compute(self) -> None:
        """Lay out the loaded SAE and cache it in the DB: a job with progress and cancel."""
        session = self.bench.session
        db, sae = session.db, session.sae
        if db is None or sae is None:
            return
        path = db.path

        def work(progress, cancel):
            from musae_core.features.db import FeatureDB
            from musae_core.features.layout import decoder_rows, layout_for_sae

            with FeatureDB.open(path) as writable:  # the session's connection is read-only
                return layout_for_sae(
                    writable, decoder_rows(sae), LAYOUT_METHOD, progress=progress, cancel=cancel
                )[0]

        self.status.setText("Computing the map… (Jobs panel: progress and cancel)")
        self.bench.jobs.start("map", "Computing the feature map", work, self.set_layout)

    def set_layout(self, layout: FeatureLayout | None, note: str = "") -> None:
        self.layout_ = layout
        self._tree = cKDTree(layout.xy) if layout is not None else None
        self.lassoed = None
        self.visible = None
        self.status.setText(note)
        self.sync_filter()
        self.view.autoRange(padding=0.05)
        if self.bench.selected_feature is not None:
            self._mark(self.bench.selected_feature)

    def set_rows(self, rows: list) -> None:
        self.rows = {row.id: row for row in rows}
        self.sync_filter()

    # --- drawing ---------------------------------------------------------------------------
    def sync_filter(self) -> None:
        """Grey out what the browser's filter (search, toggles, lasso) hides."""
        if self.layout_ is None:
            self.redraw()
            return
        proxy, model, root = self.browser.proxy, self.browser.model, QModelIndex()
        visible = np.zeros(self.layout_.count, dtype=bool)
        for i, row in enumerate(model.rows):
            if 0 <= row.id < len(visible) and proxy.filterAcceptsRow(i, root):
                visible[row.id] = True
        self.visible = visible if model.rows else None
        self.redraw()

    def _colours(self) -> tuple[np.ndarray, list[tuple[str, str]]]:
        """Per-point colour names and the legend (colour, text)."""
        count = self.layout_.count
        if self.colour_by.currentText() == "steers":
            colours = np.array(
                [STEERS[getattr(self.rows.get(i), "steers", None)] for i in range(count)],
                dtype=object,
            )
            measured = any(getattr(r, "steers", None) is not None for r in self.rows.values())
            unmeasured = "not measured" + (
                ""
                if measured
                else " (none is yet: `musae eval-steering --db DB --all` measures it)"
            )
            return colours, [
                (STEERS[True], "steers"),
                (STEERS[False], "does not steer"),
                (STEERS[None], unmeasured),
            ]
        labels = [getattr(self.rows.get(i), "best_label", None) for i in range(count)]
        names, counts = np.unique([t for t in labels if t], return_counts=True)
        top = [str(n) for n in names[np.argsort(-counts, kind="stable")][:TOP_LABELS]]
        colour_of = dict(zip(top, PALETTE, strict=False))
        colours = np.array(
            [colour_of.get(t, OTHER if t else UNLABELLED) for t in labels], dtype=object
        )
        return colours, [(colour_of[t], t) for t in top] + [(OTHER, "other labels")]

    def redraw(self) -> None:
        if self.layout_ is None:
            self.scatter.clear()
            self.legend.clear()
            return
        colours, legend = self._colours()
        if self.visible is not None:
            colours[~self.visible] = GREYED
        brushes = {c: QBrush(QColor(c)) for c in set(colours)}
        freq = np.array(
            [getattr(self.rows.get(i), "frequency", 0.0) or 0.0 for i in range(self.layout_.count)]
        )
        logf = np.log10(np.clip(freq, 1e-7, 1.0))
        span = float(logf.max() - logf.min()) or 1.0
        sizes = SIZE_PX[0] + (SIZE_PX[1] - SIZE_PX[0]) * (logf - logf.min()) / span
        sizes = np.round(sizes)  # whole pixels: a few symbols in pyqtgraph's atlas, not one each
        # greyed points first, so the ones the filter keeps are drawn on top of them
        order = np.arange(len(colours))
        if self.visible is not None:
            order = np.argsort(self.visible, kind="stable")
        self.draw_order = order
        xy = self.layout_.xy[order]
        self.scatter.setData(
            x=xy[:, 0], y=xy[:, 1], size=sizes[order], brush=[brushes[c] for c in colours[order]]
        )
        self.legend.setText(" ".join(f"<span style='color:{c}'>●</span> {t}" for c, t in legend))
        shown = int(self.visible.sum()) if self.visible is not None else self.layout_.count
        self.status.setText(
            f"{self.layout_.count} features, {self.layout_.method} layout; "
            f"{shown} match the browser's filter"
        )

    def _mark(self, feature: int) -> None:
        if self.layout_ is None or not 0 <= feature < self.layout_.count:
            self.marker.clear()
            return
        x, y = self.layout_.xy[feature]
        self.marker.setData([float(x)], [float(y)])

    # --- pointer ---------------------------------------------------------------------------
    def feature_at(self, x: float, y: float) -> int | None:
        """The feature nearest to view point (x, y), if within HOVER_PX screen pixels."""
        if self._tree is None:
            return None
        distance, index = self._tree.query((x, y))
        pixel = max(abs(v) for v in self.view.viewPixelSize())
        return int(index) if distance <= HOVER_PX * pixel else None

    def hover_at_scene(self, scene_pos) -> None:
        point = self.view.mapSceneToView(scene_pos)
        feature = self.feature_at(point.x(), point.y())
        if feature == self.hovered:
            return
        self.hovered = feature
        if feature is None:
            self.hover_text = ""
            QToolTip.hideText()
            return
        row = self.rows.get(feature)
        label = (row.best_label if row is not None else None) or "unlabelled"
        self.hover_text = f"#{feature} {label}"
        QToolTip.showText(QCursor.pos(), self.hover_text, self.plot)

    def _clicked(self, ev) -> None:
        if self.view.lasso or ev.button() != Qt.LeftButton:
            return
        point = self.view.mapSceneToView(ev.scenePos())
        feature = self.feature_at(point.x(), point.y())
        if feature is not None:
            self.bench.select_feature(feature)

    # --- lasso -----------------------------------------------------------------------------
    def _lasso_mode(self, on: bool) -> None:
        self.view.lasso = on
        self.view.setMouseEnabled(not on, not on)

    def apply_lasso(self, polygon: np.ndarray) -> None:
        """Filter the browser to the features inside ``polygon`` (view coordinates)."""
        if self.layout_ is None:
            return
        self.lassoed = np.flatnonzero(points_in_polygon(self.layout_.xy, polygon))
        self.browser.restrict_to(self.lassoed.tolist())
        self.clear_button.setEnabled(True)
        self.lasso_button.setChecked(False)

    def clear_lasso(self) -> None:
        self.lassoed = None
        self.browser.restrict_to(None)
        self.clear_button.setEnabled(False)


def install_feature_map(window) -> QDockWidget:
    """Add the map as a dock tabbed with the browser (View menu toggles it); returns the dock."""
    window.feature_map = FeatureMapPanel(window.bench, window.browser)
    dock = window._dock("Feature map", window.feature_map, Qt.LeftDockWidgetArea)
    window.tabifyDockWidget(window.docks["browser"], dock)
    window.docks["browser"].raise_()
    return dock
