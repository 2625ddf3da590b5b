"""Arrangement view of the current take: waveform, log-frequency spectrogram with a colour bar
and one activation lane per mixer feature, on one linked time axis with one playhead, and a
punch-in marker (P sets it at the playhead; a punch take shows where it was punched).

Heavy arrays (spectrogram, peaks) are computed on a worker; this widget only draws them.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from app.envelope import EnvelopeEditor, LaneViewBox
from app.theme import ACCENT, LANE_COLOURS
from musae_core.workstation.analysis import spectrogram, waveform_peaks

PUNCH_COLOUR = "#e8554e"  # the punch-in marker


def take_views(take, which: str) -> dict:
    """Worker-side: everything the arrangement draws for one side of a take."""
    audio = take.audio(which)
    return {
        "take_id": take.take_id,
        "which": which,
        "peaks": waveform_peaks(audio, take.sample_rate, buckets=3000),
        "spec": spectrogram(audio, take.sample_rate),
        "duration": take.duration,
    }


def _hz(freq: float) -> str:
    return f"{freq / 1000:.1f}k" if freq >= 1000 else f"{freq:.0f}"


NO_TAKE = "No take yet: set up the mixer and press Render (Ctrl+R)."


class ArrangementView(QWidget):
    def __init__(self, bench, transport, parent=None) -> None:
        super().__init__(parent)
        self.bench, self.transport = bench, transport
        self.title = QLabel(NO_TAKE)
        self.plots = pg.GraphicsLayoutWidget()
        self.wave = self.plots.addPlot(row=0, col=0)
        self.spec = self.plots.addPlot(row=1, col=0)
        self.lanes = self.plots.addPlot(row=2, col=0, viewBox=LaneViewBox())
        for plot, name in ((self.wave, "wave"), (self.spec, "Hz (log)"), (self.lanes, "features")):
            plot.setLabel("left", name)
            plot.setMouseEnabled(x=True, y=False)
            plot.getAxis("left").setWidth(60)
            plot.showGrid(x=True, alpha=0.15)
        self.lanes.setLabel("bottom", "time", units="s")
        self.spec.getAxis("left").enableAutoSIPrefix(False)
        self.spec.setXLink(self.wave)
        self.lanes.setXLink(self.wave)
        self.wave_curve = pg.PlotCurveItem(pen=pg.mkPen("#8ab4f8"))
        self.wave.addItem(self.wave_curve)
        self.wave.setYRange(-1, 1)
        self.image = pg.ImageItem()
        self.spec.addItem(self.image)
        self.colorbar = pg.ColorBarItem(values=(-80, 0), colorMap="inferno", label="dB")
        self.colorbar.setImageItem(self.image)
        self.plots.addItem(self.colorbar, row=1, col=1)  # own column: plots keep equal widths
        self.loop = pg.LinearRegionItem(values=(0, 1), brush=pg.mkBrush(224, 160, 48, 40))
        self.loop.setZValue(-10)
        self.loop.hide()
        self.wave.addItem(self.loop)
        self.playheads = []
        for plot in (self.wave, self.spec, self.lanes):
            line = pg.InfiniteLine(0, pen=pg.mkPen(ACCENT, width=2), movable=plot is self.wave)
            plot.addItem(line)
            self.playheads.append(line)
        self.playheads[0].sigDragged.connect(lambda line: transport.seek(line.value()))
        self.punch_seconds: float | None = None
        self.punch_lines = []
        for plot in (self.wave, self.spec, self.lanes):
            line = pg.InfiniteLine(0, pen=pg.mkPen(PUNCH_COLOUR, width=2, style=Qt.DashLine))
            line.setZValue(20)
            line.hide()
            plot.addItem(line)
            self.punch_lines.append(line)
        menu = self.wave.getViewBox().menu
        menu.addSeparator()
        self.punch_mark_action = menu.addAction("Set punch-in marker at playhead (P)")
        self.punch_mark_action.triggered.connect(self.mark_punch_at_playhead)
        self.punch_action = menu.addAction("Punch in from marker (Shift+P)")
        self.punch_action.triggered.connect(self.punch_in)
        self.legend = pg.LegendItem()  # beside the lanes (under the colour bar), never over them
        self.plots.addItem(self.legend, row=2, col=1)
        grid = self.plots.ci.layout
        grid.setColumnStretchFactor(0, 1)  # the time axis takes the width, colour bar and legend
        grid.setColumnStretchFactor(1, 0)  # only what they need
        self.lane_items: list = []
        self.envelopes = EnvelopeEditor(bench, self.lanes, self.lane_features)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.plots)
        self.loop.sigRegionChangeFinished.connect(self._loop_dragged)
        transport.playheadMoved.connect(self.set_playhead)
        transport.loopChanged.connect(self._loop_changed)
        transport.abChanged.connect(lambda _w: self.refresh())
        bench.currentTakeChanged.connect(lambda _t: self.refresh())
        bench.mixerChanged.connect(self._mixer_changed)
        bench.masterChanged.connect(lambda _m: self._empty_range())
        self._shown: tuple | None = None
        self._drawn = None  # the TakeRecord drawn last (ids repeat across projects)
        self._lane_order: list[int] = []
        self._empty_range()

    def refresh(self) -> None:
        """Compute views of the current take (A or B side) on a worker, then draw."""
        take = self.bench.current_take
        if take is None:
            self.clear()
            return
        if not take.loaded:
            return
        which = self.transport.ab
        key = (take.take_id, which)
        if key == self._shown and take is self._drawn:  # a reopened project reuses take ids
            return
        self.bench.jobs.start(
            "arrange", "Drawing take", lambda p, c: take_views(take, which), self.draw
        )

    def clear(self) -> None:
        """No take (a new project): none of the last project's take stays on screen."""
        self._shown = self._drawn = None
        self.title.setText(NO_TAKE)
        self.wave_curve.setData([], [])
        self.image.clear()
        for item in self.lane_items:
            self.lanes.removeItem(item)
        self.lane_items = []
        self.legend.clear()

    def draw(self, views: dict) -> None:
        take = self.bench.current_take
        if take is None or take.take_id != views["take_id"]:
            return
        self._shown, self._drawn = (views["take_id"], views["which"]), take
        self.title.setText(f"{take.name()}   [{views['which']}]")
        times, lo, hi = views["peaks"]
        self.wave_curve.setData(
            np.repeat(times, 2), np.column_stack([lo, hi]).ravel(), connect="pairs"
        )
        spec = views["spec"]
        self.image.setImage(spec.db, autoLevels=False, levels=(max(spec.floor_db, -80), 0))
        self.image.setRect(QRectF(0, 0, spec.db.shape[0] * spec.hop_seconds, spec.db.shape[1]))
        self.spec.setYRange(0, spec.db.shape[1])
        step = max(1, len(spec.freqs) // 5)
        ticks = [(i + 0.5, _hz(spec.freqs[i])) for i in range(0, len(spec.freqs), step)]
        self.spec.getAxis("left").setTicks([ticks])
        self._draw_lanes(take, views["which"])
        if take.punch_seconds is not None:
            self.set_punch_marker(take.punch_seconds)
        self.envelopes.redraw()
        self.wave.setXRange(0, views["duration"], padding=0.01)
        if self.transport.loop_region is None:
            self.loop.setRegion((0.25 * views["duration"], 0.75 * views["duration"]))
            self.transport.set_loop_region(*self.loop.getRegion())
        elif self.loop.getRegion() == (0, 1):  # a region restored with the project
            self.loop.setRegion(self.transport.loop_region)

    def lane_features(self) -> list[int]:
        """Lane order: the mixer's channels, then features only the shown take still has."""
        features = self.bench.mixer.features()
        take = self.bench.current_take
        extra = [f for f in (take.activations if take is not None else {}) if f not in features]
        return features + extra

    def _empty_range(self) -> None:
        """Before the first take, the time axis spans the master duration."""
        if self._shown is None:
            self.wave.setXRange(0, self.bench.timeline_seconds(), padding=0.01)

    def _mixer_changed(self, _mixer=None) -> None:
        """Lanes follow the mixer (cheap: a few curves); envelopes redraw on every edit."""
        order = self.lane_features()
        if order != self._lane_order:
            self._draw_lanes()
        self.envelopes.redraw()

    def _draw_lanes(self, take=None, which: str | None = None) -> None:
        for item in self.lane_items:
            self.lanes.removeItem(item)
        self.legend.clear()
        self.lane_items = []
        take = take or self.bench.current_take
        which = which or (self._shown[1] if self._shown else "steered")
        acts = {}
        if take is not None and take.loaded:
            acts = take.activations if which == "steered" else take.unsteered_activations
        order = self._lane_order = self.lane_features()
        for i, feature in enumerate(order):
            values = acts.get(feature)
            if values is None:
                continue
            peak = float(np.max(values)) if values.size else 0.0
            t = np.arange(values.size) / take.frame_rate
            colour = LANE_COLOURS[i % len(LANE_COLOURS)]
            scaled = values / peak if peak > 0 else np.zeros_like(values)
            curve = pg.PlotCurveItem(t, i + 0.9 * scaled, pen=pg.mkPen(colour, width=2))
            self.lanes.addItem(curve)
            self.legend.addItem(curve, self._lane_name(feature, peak))
            self.lane_items.append(curve)
        self.lanes.getAxis("left").setTicks([[(i + 0.45, f"#{f}") for i, f in enumerate(order)]])
        self.lanes.setYRange(0, max(1, len(order)), padding=0.02)
        self._empty_range()

    def _lane_name(self, feature: int, peak: float) -> str:
        label = next((c.label for c in self.bench.mixer.channels if c.feature == feature), "")
        short = f" {label[:16]}{'…' if len(label) > 16 else ''}" if label else ""
        return f"#{feature}{short}<br>" + (
            f"peak {peak:.2f}" if peak > 0 else "silent in this take"
        )

    def set_punch_marker(self, seconds: float | None) -> None:
        """Show the punch-in marker at ``seconds`` (None hides it)."""
        self.punch_seconds = None if seconds is None else max(0.0, float(seconds))
        for line in self.punch_lines:
            line.setVisible(seconds is not None)
            if seconds is not None:
                line.setValue(self.punch_seconds)

    def mark_punch_at_playhead(self) -> None:
        self.set_punch_marker(self.transport.playhead)

    def punch_in(self) -> None:
        """Re-render the current take from the marker with the current mixer."""
        if self.punch_seconds is None:
            self.bench.error.emit("No punch-in marker is set.", "place the playhead, press P.")
            return
        self.bench.punch_in(self.punch_seconds)

    def set_playhead(self, seconds: float) -> None:
        for line in self.playheads:
            line.setValue(seconds)

    def _loop_dragged(self) -> None:
        self.transport.set_loop_region(*self.loop.getRegion())

    def _loop_changed(self, region) -> None:
        self.loop.setVisible(region is not None)
        if region is not None and tuple(self.loop.getRegion()) != tuple(region):
            self.loop.setRegion(region)  # e.g. restored with a project

    def zoom(self, factor: float) -> None:
        (x0, x1), _ = self.wave.viewRange()
        centre, half = (x0 + x1) / 2, (x1 - x0) / 2 / factor
        self.wave.setXRange(centre - half, centre + half, padding=0)
