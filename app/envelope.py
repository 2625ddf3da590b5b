"""Strength envelopes drawn on the activation lanes of the arrangement view.

Lane ``i`` spans y in [i, i + 1) on the lanes plot; an envelope gain g (0..1) sits at
y = i + LANE_SCALE * g, the same scale the activation curve uses. Gestures on the lanes:
click (left) on a lane whose channel has its envelope switched on adds a point, dragging a point
moves it (one undo step per drag, rendered on release), double-click or right-click on a point
deletes it. Everything else (pan, zoom, context menu) is left to pyqtgraph.

The edits themselves are the pure functions of ``musae_core.workstation.mixer``; the state
lives in the workstation History, so this module holds only the drawing items.
"""

from __future__ import annotations

import math
import time

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from app.theme import LANE_COLOURS
from musae_core.workstation.mixer import add_point, move_point, remove_point

LANE_SCALE = 0.9
HIT_PIXELS = 9.0


class _Points(pg.ScatterPlotItem):
    """Envelope handles; clicks fall through to the lanes view box, which owns the gestures."""

    def mouseClickEvent(self, ev) -> None:
        ev.ignore()


class LaneViewBox(pg.ViewBox):
    """The lanes' view box: routes clicks and drags near envelopes to an ``EnvelopeEditor``."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.editor: EnvelopeEditor | None = None
        self._dragging = False
        self._last_click: tuple[int, int] | None = None
        self._last_time = 0.0

    def mouseClickEvent(self, ev) -> None:
        editor, pos = self.editor, self.mapToView(ev.pos())
        if editor is not None:
            hit = editor.hit(pos.x(), pos.y())
            if hit is not None and self._deletes(ev, hit):
                ev.accept()
                editor.delete(*hit)
                return
            left = ev.button() == Qt.MouseButton.LeftButton
            if left and (hit is not None or editor.add(pos.x(), pos.y())):
                ev.accept()
                return
        super().mouseClickEvent(ev)

    def _deletes(self, ev, hit: tuple[int, int]) -> bool:
        """Right-click, or a double-click: pyqtgraph reports Qt 6's press/release/press/
        double-click/release as two plain clicks, so a second click on the same point within
        the double-click interval counts too."""
        if ev.button() == Qt.MouseButton.RightButton:
            return True
        if ev.button() != Qt.MouseButton.LeftButton:
            return False
        now = time.monotonic()
        interval = QGuiApplication.styleHints().mouseDoubleClickInterval() / 1000
        double = ev.double() or (self._last_click == hit and now - self._last_time < interval)
        self._last_click, self._last_time = (None, 0.0) if double else (hit, now)
        return double

    def mouseDragEvent(self, ev, axis=None) -> None:
        editor = self.editor
        if editor is not None and ev.button() == Qt.MouseButton.LeftButton and axis is None:
            if ev.isStart():
                down = self.mapToView(ev.buttonDownPos())
                self._dragging = editor.begin_drag(down.x(), down.y())
            if self._dragging:
                ev.accept()
                pos = self.mapToView(ev.pos())
                editor.drag_to(pos.x(), pos.y())
                if ev.isFinish():
                    self._dragging = False
                    editor.finish_drag()
                return
        super().mouseDragEvent(ev, axis)


class EnvelopeEditor:
    """Draws each channel's envelope on its lane and turns gestures into workstation edits."""

    def __init__(self, bench, plot: pg.PlotItem, lane_features) -> None:
        self.bench, self.plot, self.lane_features = bench, plot, lane_features
        self.items: dict[int, tuple[pg.PlotCurveItem, _Points]] = {}
        self._drag: tuple[int, int] | None = None  # (feature, point index)
        vb = plot.getViewBox()
        if isinstance(vb, LaneViewBox):
            vb.editor = self

    # --- geometry ------------------------------------------------------------------------------
    def lane_of(self, feature: int) -> int | None:
        lanes = self.lane_features()
        return lanes.index(feature) if feature in lanes else None

    def _points(self, feature: int):
        mixer = self.bench.mixer
        return mixer.channel(feature).envelope if feature in mixer.features() else ()

    def hit(self, x: float, y: float) -> tuple[int, int] | None:
        """The (feature, point index) of the envelope point within HIT_PIXELS of (x, y)."""
        px, py = self.plot.getViewBox().viewPixelSize()
        best, best_d = None, HIT_PIXELS
        for feature in self.bench.mixer.features():
            lane = self.lane_of(feature)
            if lane is None:
                continue
            for i, (t, g) in enumerate(self._points(feature)):
                d = math.hypot(
                    (t - x) / max(px, 1e-12), (lane + LANE_SCALE * g - y) / max(py, 1e-12)
                )
                if d <= best_d:
                    best, best_d = (feature, i), d
        return best

    def _at(self, x: float, y: float) -> tuple[int, float, float] | None:
        """The feature whose lane holds y (envelope switched on), with time and gain there."""
        lane = math.floor(y)
        lanes = self.lane_features()
        if not 0 <= lane < len(lanes) or not self._points(lanes[lane]):
            return None
        seconds = min(max(0.0, x), self.bench.timeline_seconds())
        return lanes[lane], seconds, (y - lane) / LANE_SCALE

    # --- gestures ------------------------------------------------------------------------------
    def add(self, x: float, y: float) -> bool:
        spot = self._at(x, y)
        if spot is None or self.bench.steering_unavailable() is not None:
            return False
        feature, seconds, gain = spot
        points, _ = add_point(self._points(feature), seconds, gain)
        self.bench.set_envelope(feature, points, f"#{feature} envelope point")
        return True

    def delete(self, feature: int, index: int) -> None:
        points = remove_point(self._points(feature), index)
        self.bench.set_envelope(feature, points, f"#{feature} delete envelope point")

    def begin_drag(self, x: float, y: float) -> bool:
        hit = self.hit(x, y)
        if hit is None or self.bench.steering_unavailable() is not None:
            return False
        self._drag = hit
        self.bench.session.history.begin()
        return True

    def drag_to(self, x: float, y: float) -> None:
        if self._drag is None:
            return
        feature, index = self._drag
        lane = self.lane_of(feature)
        points = self._points(feature)
        if lane is None or index >= len(points):
            return
        seconds = min(max(0.0, x), self.bench.timeline_seconds())
        moved = move_point(points, index, seconds, (y - lane) / LANE_SCALE)
        self.bench.preview_channel(feature, envelope=moved)

    def finish_drag(self) -> None:
        if self._drag is not None:
            feature, self._drag = self._drag[0], None
            self.bench.commit_gesture(f"#{feature} move envelope point")

    # --- drawing -------------------------------------------------------------------------------
    def redraw(self) -> None:
        """One line + handles per envelope, extended flat to 0 and the end of the take."""
        wanted = {}
        end = self.bench.timeline_seconds()
        for feature in self.bench.mixer.features():
            lane, points = self.lane_of(feature), self._points(feature)
            if lane is not None and points:
                wanted[feature] = (lane, points)
        for feature in [f for f in self.items if f not in wanted]:
            for item in self.items.pop(feature):
                self.plot.removeItem(item)
        for feature, (lane, points) in wanted.items():
            if feature not in self.items:
                colour = LANE_COLOURS[lane % len(LANE_COLOURS)]
                line = pg.PlotCurveItem(pen=pg.mkPen("#ffffff", width=1.5, style=Qt.DashLine))
                handles = _Points(size=9, pen=pg.mkPen("#ffffff"), brush=pg.mkBrush(colour))
                for item in (line, handles):
                    item.setZValue(20)
                    self.plot.addItem(item)
                self.items[feature] = (line, handles)
            line, handles = self.items[feature]
            ts = [t for t, _ in points]
            ys = [lane + LANE_SCALE * g for _, g in points]
            line.setData([0.0, *ts, max(end, ts[-1])], [ys[0], *ys, ys[-1]])
            handles.setData(ts, ys)
