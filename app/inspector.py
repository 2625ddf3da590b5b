"""Feature inspector: labels (source, score, evidence), description, activation histogram,
similar features (click to jump) and the top clips, each playable with its spectrogram and the
feature's activation timeline on one time axis."""

from __future__ import annotations

import json

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.theme import ACCENT


class ClipWidget(QWidget):
    """One top clip: play button, spectrogram and activation timeline sharing the x axis."""

    def __init__(self, view, on_play, parent=None) -> None:
        super().__init__(parent)
        clip = view.clip
        self.view = view
        self.play = QPushButton("▶")
        self.play.setFixedWidth(32)
        self.play.setEnabled(view.playable)
        self.play.setToolTip("Play this clip" if view.playable else "No cached snippet")
        self.play.clicked.connect(lambda: on_play(view))
        name = clip.source_path.rsplit("/", 1)[-1]
        info = QLabel(
            f"#{clip.rank + 1} {name} @ {clip.clip_start:.1f}s  mean {clip.mean_activation:.2f}"
            f"  peak {clip.peak_activation:.2f}"
        )
        plots = pg.GraphicsLayoutWidget()
        plots.setFixedHeight(130)
        spec_plot = plots.addPlot(row=0, col=0)
        line_plot = plots.addPlot(row=1, col=0)
        line_plot.setXLink(spec_plot)
        for p in (spec_plot, line_plot):
            p.hideAxis("left")
            p.setMouseEnabled(x=True, y=False)
        if view.spectrogram is not None:
            spec = view.spectrogram
            image = pg.ImageItem(spec.db, levels=(max(spec.floor_db, -80), 0))
            image.setColorMap(pg.colormap.get("inferno"))
            image.setRect(QRectF(0, 0, spec.db.shape[0] * spec.hop_seconds, spec.db.shape[1]))
            spec_plot.addItem(image)
        timeline = np.asarray(clip.timeline, dtype=np.float32)
        t = np.arange(timeline.size) / max(clip.frame_rate, 1e-9)
        line_plot.plot(
            t, timeline, pen=pg.mkPen(ACCENT, width=2), fillLevel=0, brush=(224, 160, 48, 60)
        )
        start, end = clip.best_window
        if end > start:
            line_plot.addItem(
                pg.LinearRegionItem((start, end), movable=False, brush=(255, 255, 255, 25))
            )
        spec_plot.setXRange(0, max(clip.clip_seconds, t[-1] if t.size else 1.0), padding=0)
        top = QHBoxLayout()
        top.addWidget(self.play)
        top.addWidget(info, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 2, 0, 2)
        layout.addLayout(top)
        layout.addWidget(plots)


class InspectorPanel(QWidget):
    def __init__(self, bench, transport, parent=None) -> None:
        super().__init__(parent)
        self.bench, self.transport = bench, transport
        self.record = None
        self.header = QLabel("Select a feature in the browser.")
        self.header.setWordWrap(True)
        self.header.setTextFormat(Qt.RichText)
        self.add = QPushButton("Add to mixer")
        self.add.clicked.connect(self._add)
        self.labels = QTableWidget(0, 5)
        self.labels.setHorizontalHeaderLabels(["Source", "Label", "Score", "CLAP", "Evidence"])
        self.labels.horizontalHeader().setStretchLastSection(True)
        self.labels.verticalHeader().hide()
        self.labels.setMaximumHeight(140)
        self.histogram = pg.PlotWidget()
        self.histogram.setFixedHeight(110)
        self.histogram.setLabel("bottom", "activation")
        self.histogram.setMouseEnabled(x=False, y=False)
        self.neighbours = QListWidget()
        self.neighbours.setMaximumHeight(90)
        self.neighbours.itemClicked.connect(
            lambda item: bench.select_feature(item.data(Qt.UserRole))
        )
        self.clips_box = QVBoxLayout()
        holder = QWidget()
        holder.setLayout(self.clips_box)
        scroll = QScrollArea(widgetResizable=True)
        scroll.setWidget(holder)
        head = QHBoxLayout()
        head.addWidget(self.header, 1)
        head.addWidget(self.add)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(head)
        layout.addWidget(self.labels)
        layout.addWidget(QLabel("Activation histogram"))
        layout.addWidget(self.histogram)
        layout.addWidget(QLabel("Similar features (click to jump)"))
        layout.addWidget(self.neighbours)
        layout.addWidget(QLabel("Top clips"))
        layout.addWidget(scroll, 1)
        bench.detailsReady.connect(self.show_details)
        bench.resourcesChanged.connect(self._resources)
        self._resources()

    def _resources(self) -> None:
        self.add.setEnabled(self.record is not None and self.bench.steering_unavailable() is None)

    def show_details(self, details) -> None:
        rec = self.record = details.record
        flags = ", ".join(
            n for n, on in (("dead", rec.dead), ("rare", rec.rare), ("generic", rec.generic)) if on
        )
        self.header.setText(
            f"<b>#{rec.id} {rec.best_label or '(unlabelled)'}</b> "
            f"<i>{rec.label_source or ''}</i><br>{rec.description or ''}<br>"
            f"rate {rec.clip_rate:.3f} · freq {rec.frequency:.4f} · max {rec.max_activation:.2f}"
            + (f" · {flags}" if flags else "")
        )
        self.labels.setRowCount(len(details.labels))
        for r, lab in enumerate(details.labels):
            clap = "" if lab.clap_score is None else f"{lab.clap_score:.3f}"
            cells = (lab.source, lab.text, f"{lab.score:.3f}", clap, json.dumps(lab.evidence)[:200])
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(lab.description or text)
                self.labels.setItem(r, c, item)
        self.histogram.clear()
        edges, counts = rec.histogram
        if len(counts):
            edges = np.asarray(edges, float)
            self.histogram.addItem(
                pg.BarGraphItem(x0=edges[:-1], x1=edges[1:], height=counts, brush=ACCENT)
            )
        self.neighbours.clear()
        for fid, cos, label in details.neighbours:
            item = QListWidgetItem(f"#{fid}  cos {cos:.2f}  {label}")
            item.setData(Qt.UserRole, fid)
            self.neighbours.addItem(item)
        while self.clips_box.count():
            widget = self.clips_box.takeAt(0).widget()
            if widget is not None:
                widget.deleteLater()
        self.clip_widgets = [ClipWidget(view, self.play_clip) for view in details.clips]
        for widget in self.clip_widgets:
            self.clips_box.addWidget(widget)
        if not details.clips:
            self.clips_box.addWidget(QLabel("No top clips stored for this feature."))
        self._resources()

    def play_clip(self, view) -> None:
        self.transport.output.stop()
        self.transport.load_clip(view.audio, view.sample_rate)
        self.transport.output.play()

    def _add(self) -> None:
        if self.record is not None:
            self.bench.add_feature(self.record.id, self.record.best_label or "")
