"""Feature inspector: labels (source, score, CLAP, evidence in words with the raw numbers one
click away), activation histogram, similar features (click to jump) and the top clips, each
playable with its own playhead over its spectrogram and the feature's activation timeline.

The "Concepts" box (``app.concept_box``) lists the concept groups the feature belongs to.
A click shows the DB part at once; each clip's spectrogram and audio arrive as the worker
decodes them (``Workbench.clipAudioReady``).
"""

from __future__ import annotations

import json

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.clip_row import ClipRow
from app.concept_box import ConceptBox
from app.theme import ACCENT

LABEL_COLUMNS = (
    ("Source", "Which labeller wrote the label (descriptor, classifier, clap, llm)."),
    ("Label", "The label text."),
    ("Score", "The labeller's own strength for the label (effect size, contrast or confidence)."),
    (
        "CLAP",
        "CLAP validation: how much closer CLAP puts the label to the top clips than to "
        "random clips. Empty until `musae label --method validate` has run.",
    ),
    ("Evidence", "What the labeller measured, in words; 'Raw numbers' shows the statistics."),
)
STATS_TIP = (
    "rate: fraction of clips whose mean activation passes the threshold · freq: fraction of "
    "frames on which the feature fires at all · max: its largest activation (the steering "
    "scale β)"
)
NEIGHBOURS_TIP = (
    "Features whose decoder directions point the same way; cos is their cosine similarity "
    "(1 = same direction, 0 = unrelated). Click one to inspect it."
)
NO_CLAP = (
    "CLAP column empty: no label of this feature has been validated with CLAP. Run "
    "`musae label --db DB --method validate --all` (needs laion/larger_clap_music)."
)
MIN_CLIP_ROWS = 2  # the clips panel always shows at least two whole clips


class InspectorPanel(QWidget):
    def __init__(self, bench, transport, parent=None) -> None:
        super().__init__(parent)
        self.bench, self.transport = bench, transport
        self.record = None
        self.details = None
        self.clip_widgets: list[ClipRow] = []
        self.header = QLabel("Select a feature in the browser.")
        self.header.setWordWrap(True)
        self.header.setTextFormat(Qt.RichText)
        self.header.setToolTip(STATS_TIP)
        self.add = QPushButton("Add to mixer")
        self.add.clicked.connect(self._add)
        self.labels = self._labels_table()
        # the selected label's evidence in full: the table keeps one line per label (a narrow
        # dock would otherwise wrap the sentence into a column a few letters wide)
        self.evidence = QLabel("")
        self.evidence.setWordWrap(True)
        self.evidence.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.evidence.hide()
        self.raw_toggle = QPushButton("Raw numbers")
        self.raw_toggle.setCheckable(True)
        self.raw_toggle.setToolTip("Show the selected label's evidence as stored (JSON)")
        self.raw_toggle.toggled.connect(self._show_raw)
        self.raw = QPlainTextEdit(readOnly=True)
        self.raw.setMaximumHeight(140)
        self.raw.hide()
        self.clap_note = QLabel("CLAP column empty: no CLAP validation yet (hover for how)")
        self.clap_note.setWordWrap(True)  # wraps rather than widen the inspector dock
        self.clap_note.setToolTip(NO_CLAP)
        self.clap_note.hide()
        self.histogram = pg.PlotWidget()
        self.histogram.setFixedHeight(100)
        self.histogram.setLabel("bottom", "activation")
        self.histogram.setMouseEnabled(x=False, y=False)
        self.histogram.setToolTip("How often the feature fires at each strength (active frames)")
        self.neighbours = QListWidget()
        self.neighbours.setFixedHeight(100)
        self.neighbours.setToolTip(NEIGHBOURS_TIP)
        self.neighbours.itemClicked.connect(
            lambda item: bench.select_feature(item.data(Qt.UserRole))
        )
        self.concepts = ConceptBox(bench)
        self.clips_box = QVBoxLayout()
        self.clips_box.setSpacing(2)
        self._rows: list[ClipRow] = []  # a pool: rows beyond this feature's clips are hidden
        self.no_clips = QLabel("No top clips stored for this feature.")
        self.no_clips.hide()
        self.clips_box.addWidget(self.no_clips)
        self.clips_box.addStretch()
        holder = QWidget()
        holder.setLayout(self.clips_box)
        self.clips_scroll = QScrollArea(widgetResizable=True)
        self.clips_scroll.setWidget(holder)
        self.clips_scroll.setMinimumHeight(MIN_CLIP_ROWS * self._row_height() + 8)
        self.setLayout(self._layout())
        self.plots_box.hide()  # until a feature is selected
        self.concepts.hide()
        bench.detailsReady.connect(self.show_details)
        bench.clipAudioReady.connect(self._clip_audio)
        bench.resourcesChanged.connect(self._resources)
        bench.projectChanged.connect(self._project_changed)
        transport.clipPlayheadMoved.connect(self._clip_playhead)
        transport.playingChanged.connect(self._playing)
        self._resources()

    def sizeHint(self) -> QSize:
        """Leave the browser room for its columns at 1600 px (the clips stretch to fit)."""
        return QSize(540, super().sizeHint().height())

    def _labels_table(self) -> QTableWidget:
        table = QTableWidget(0, len(LABEL_COLUMNS))
        for c, (title, tip) in enumerate(LABEL_COLUMNS):
            item = QTableWidgetItem(title)
            item.setToolTip(tip)
            table.setHorizontalHeaderItem(c, item)
        header = table.horizontalHeader()
        for c in range(len(LABEL_COLUMNS) - 1):
            header.setSectionResizeMode(c, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(len(LABEL_COLUMNS) - 1, QHeaderView.Stretch)
        table.verticalHeader().hide()
        table.setWordWrap(False)
        table.setTextElideMode(Qt.ElideRight)
        table.setSelectionBehavior(QAbstractItemView.SelectRows)
        table.setSelectionMode(QAbstractItemView.SingleSelection)
        table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        table.setMinimumHeight(80)  # three one-line labels
        # four lines: more scroll inside the table, so the evidence sentence under it stays in
        # view in a 1000-px window (at 160 px it was cut mid-sentence)
        table.setMaximumHeight(4 * table.verticalHeader().defaultSectionSize() + 8)
        table.itemSelectionChanged.connect(self._selected_label)
        return table

    def _layout(self) -> QVBoxLayout:
        head = QHBoxLayout()
        head.addWidget(self.header, 1)
        head.addWidget(self.add)
        raw_row = QHBoxLayout()
        raw_row.addWidget(self.clap_note, 1)
        raw_row.addWidget(self.raw_toggle, 0, Qt.AlignTop)
        plots = QHBoxLayout()
        for title, widget in (
            ("Activation histogram", self.histogram),
            ("Similar features (click to jump)", self.neighbours),
        ):
            column = QVBoxLayout()
            column.addWidget(QLabel(title, wordWrap=True))  # wraps: the dock may be narrow
            column.addWidget(widget)
            plots.addLayout(column, 1)
        details = QWidget()
        top = QVBoxLayout(details)
        top.setContentsMargins(0, 0, 0, 0)
        top.addLayout(head)
        top.addWidget(self.labels)
        top.addWidget(self.evidence)
        top.addLayout(raw_row)
        top.addWidget(self.raw)
        self.plots_box = QWidget()  # hidden while no feature is selected: nothing to plot
        self.plots_box.setLayout(plots)
        plots.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.plots_box)
        top.addWidget(self.concepts)
        clips = QWidget()
        bottom = QVBoxLayout(clips)
        bottom.setContentsMargins(0, 0, 0, 0)
        bottom.addWidget(
            QLabel("Top clips (#1 = the clip the feature fires on most)", wordWrap=True)
        )
        bottom.addWidget(self.clips_scroll, 1)
        # a short dock scrolls the details instead of squeezing them on top of each other
        details_scroll = QScrollArea(widgetResizable=True)
        details_scroll.setFrameShape(QFrame.NoFrame)
        details_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        details_scroll.setWidget(details)
        self.splitter = QSplitter(Qt.Vertical)
        self.splitter.addWidget(details_scroll)
        self.splitter.addWidget(clips)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout()
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.splitter)
        return layout

    @staticmethod
    def _row_height() -> int:
        from app.clip_row import STRIP_HEIGHT

        return STRIP_HEIGHT + 36  # the caption line and margins

    def _resources(self) -> None:
        self.add.setEnabled(self.record is not None and self.bench.steering_unavailable() is None)
        self.raw_toggle.setEnabled(self.record is not None)  # nothing to show raw yet

    def _project_changed(self) -> None:
        if self.bench.selected_feature is None and self.record is not None:
            self.clear()

    def clear(self) -> None:
        """Nothing selected (a new or another project): no feature of the old one on show."""
        self.record = self.details = None
        self.header.setText("Select a feature in the browser.")
        self.labels.setRowCount(0)
        self.raw_toggle.setChecked(False)
        for widget in (
            self.evidence,
            self.raw,
            self.clap_note,
            self.no_clips,
            self.concepts,
            self.plots_box,
        ):
            widget.hide()
        self.histogram.clear()
        self.neighbours.clear()
        for row in self._rows:
            row.hide()
        self.clip_widgets = []
        self._resources()

    def show_details(self, details) -> None:
        selected = self.bench.selected_feature
        if selected is not None and details.record.id != selected:
            return  # a superseded click's details arriving late
        self.details = details
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
        self._fill_labels(details)
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
            item.setToolTip(NEIGHBOURS_TIP)
            self.neighbours.addItem(item)
        self.concepts.show_concepts(rec.id, details.concepts)
        self.concepts.show()
        self.plots_box.show()
        self._fill_clips(details)
        self._resources()

    def _fill_labels(self, details) -> None:
        self.labels.setRowCount(len(details.labels))
        sentences = details.sentences or [""] * len(details.labels)
        for r, (lab, sentence) in enumerate(zip(details.labels, sentences, strict=True)):
            clap = "" if lab.clap_score is None else f"{lab.clap_score:.3f}"
            cells = (lab.source, lab.text, f"{lab.score:.3f}", clap, sentence or "—")
            tips = (
                None,
                lab.description or lab.text,
                None,
                None if clap else NO_CLAP,
                sentence or "No evidence stored",
            )
            for c, (text, tip) in enumerate(zip(cells, tips, strict=True)):
                item = QTableWidgetItem(text)
                item.setToolTip(tip or LABEL_COLUMNS[c][1])
                self.labels.setItem(r, c, item)
        self.clap_note.setVisible(bool(details.labels) and not details.has_clap)
        if details.labels:
            self.labels.selectRow(0)
        self._selected_label()

    def _selected_label(self) -> None:
        """The selected label's evidence sentence under the table (and its raw numbers)."""
        has = self.details is not None and bool(self.details.labels)
        self.evidence.setVisible(has)
        if has:
            row = min(max(self.labels.currentRow(), 0), len(self.details.labels) - 1)
            lab = self.details.labels[row]
            sentence = (self.details.sentences or [""] * (row + 1))[row] or "—"
            self.evidence.setText(f"“{lab.text}” ({lab.source}): {sentence}")
        self._show_raw(self.raw_toggle.isChecked())

    def _show_raw(self, on: bool) -> None:
        """The selected label's evidence exactly as stored (one click from the sentence)."""
        self.raw.setVisible(on)
        if not on or self.details is None or not self.details.labels:
            return
        row = max(self.labels.currentRow(), 0)
        lab = self.details.labels[min(row, len(self.details.labels) - 1)]
        self.raw.setPlainText(
            f"{lab.source}: {lab.text}\n" + json.dumps(lab.evidence, indent=1, sort_keys=True)
        )

    def _fill_clips(self, details) -> None:
        """Reuse the rows of the last feature (building widgets is most of a click's cost)."""
        views = details.clips
        while len(self._rows) < len(views):
            row = ClipRow(views[len(self._rows)])
            row.playClicked.connect(self._play_clicked)
            self.clips_box.insertWidget(len(self._rows), row)
            self._rows.append(row)
        for row, view in zip(self._rows, views, strict=False):
            row.set_view(view)
            row.show()
        for row in self._rows[len(views) :]:
            row.hide()
        self.clip_widgets = self._rows[: len(views)]
        self.no_clips.setVisible(not views)

    def _clip_audio(self, feature: int, index: int, view) -> None:
        if self.record is not None and feature == self.record.id and index < len(self.clip_widgets):
            self.clip_widgets[index].set_audio(view)

    def _key(self, view) -> tuple:
        return (self.record.id if self.record is not None else None, view.position)

    def _play_clicked(self, view) -> None:
        playing = self.transport.source == "clip" and self.transport.output.playing
        if playing and self.transport.clip_key == self._key(view):
            self.transport.output.stop()
        else:
            self.play_clip(view)

    def play_clip(self, view) -> None:
        """Audition a clip: its own row shows the playhead; the arrangement's stays put."""
        if not view.playable:  # clicked before the worker decoded it: decode this one now
            from musae_core.workstation.details import load_clip_audio

            load_clip_audio([view])
            if not view.playable:
                return
        self.transport.output.stop()
        self.transport.load_clip(view.audio, view.sample_rate, key=self._key(view))
        self.transport.output.play()

    def _clip_playhead(self, key, seconds: float) -> None:
        for row in self.clip_widgets:
            row.set_playing(seconds if self._key(row.view) == key else None)

    def _playing(self, playing: bool) -> None:
        if not playing or self.transport.source != "clip":
            for row in self.clip_widgets:
                row.set_playing(None)

    def _add(self) -> None:
        if self.record is not None:
            self.bench.add_feature(self.record.id, self.record.best_label or "")
