"""Steering mixer: one channel strip per feature (knob, add/clamp, mute, solo, remove).

Strips mirror ``MixerState``; every user action goes through the Workbench so it is undoable,
and a knob drag is a gesture (one undo step, one render on release).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QPushButton,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.browser import FEATURE_MIME
from app.knob import Knob
from musae_core.workstation.midi_map import feature_target


class ChannelStrip(QFrame):
    def __init__(self, bench, channel, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("strip")
        self.bench, self.feature = bench, channel.feature
        self.title = QLabel()
        self.title.setAlignment(Qt.AlignCenter)
        self.title.setWordWrap(True)
        self.title.setFixedWidth(96)
        self.knob = Knob()
        self.knob.setProperty("midi_target", feature_target(channel.feature))  # MIDI learn
        self.mode = QComboBox()
        self.mode.addItems(["add", "clamp"])
        self.mode.setToolTip("add: x + α·β·d (β = max activation); clamp: set the activation to α")
        self.mute = QToolButton(text="M", checkable=True, toolTip="Mute")
        self.solo = QToolButton(text="S", checkable=True, toolTip="Solo")
        self.remove = QToolButton(text="✕", toolTip="Remove this channel")
        self.envelope = QToolButton(text="env", checkable=True)
        self.envelope.setToolTip(
            "Strength envelope on this feature's lane in the arrangement: click the lane to add "
            "a point, drag to move, double-click or right-click to delete"
        )
        buttons = QHBoxLayout()
        for b in (self.mute, self.solo, self.envelope, self.remove):
            buttons.addWidget(b)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.title)
        layout.addWidget(self.knob, alignment=Qt.AlignHCenter)
        layout.addWidget(self.mode)
        layout.addLayout(buttons)
        self.sync(channel)
        self.knob.gestureStarted.connect(bench.session.history.begin)
        self.knob.valueChanged.connect(lambda v: bench.preview_channel(self.feature, strength=v))
        self.knob.gestureFinished.connect(
            lambda _v: bench.commit_gesture(f"#{self.feature} strength")
        )
        self.mode.activated.connect(
            lambda i: bench.update_channel(self.feature, "mode", mode=self.mode.itemText(i))
        )
        self.mute.clicked.connect(lambda on: bench.update_channel(self.feature, "mute", mute=on))
        self.solo.clicked.connect(lambda on: bench.update_channel(self.feature, "solo", solo=on))
        self.remove.clicked.connect(lambda: bench.remove_feature(self.feature))
        self.envelope.clicked.connect(lambda on: bench.toggle_envelope(self.feature, on))

    def sync(self, channel) -> None:
        label = (
            f"#{channel.feature}\n{channel.label[:28]}" if channel.label else f"#{channel.feature}"
        )
        self.title.setText(label)
        if self.knob._drag_y is None:
            self.knob.setValue(channel.strength)
        self.mode.setCurrentText(channel.mode)
        self.mute.setChecked(channel.mute)
        self.solo.setChecked(channel.solo)
        self.envelope.setChecked(bool(channel.envelope))
        points = len(channel.envelope)
        self.envelope.setText(f"env {points}" if points else "env")


class MixerPanel(QWidget):
    """The strips in a horizontal scroll area, a + button, and the why-disabled note."""

    def __init__(self, bench, parent=None) -> None:
        super().__init__(parent)
        self.bench = bench
        self.strips: dict[int, ChannelStrip] = {}
        self.setAcceptDrops(True)
        self.note = QLabel(objectName="note", wordWrap=True)
        self.add_button = QPushButton("+ Add feature")
        self.add_button.setToolTip("Add the selected feature (or drag rows from the browser)")
        self.add_button.clicked.connect(self._add_clicked)
        self.auto = QPushButton("Auto-render", checkable=True, checked=True)
        self.auto.setToolTip("Render when a knob is released")
        self.auto.toggled.connect(lambda on: setattr(bench, "auto_render", on))
        self.row = QHBoxLayout()
        self.row.addStretch()
        holder = QWidget()
        holder.setLayout(self.row)
        scroll = QScrollArea(widgetResizable=True)
        scroll.setWidget(holder)
        top = QHBoxLayout()
        top.addWidget(self.add_button)
        top.addWidget(self.auto)
        top.addWidget(self.note, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(scroll)
        bench.mixerChanged.connect(self.sync)
        bench.resourcesChanged.connect(self._resources)
        bench.projectChanged.connect(lambda: self.sync(bench.mixer))
        self._resources()

    def _resources(self) -> None:
        reason = self.bench.steering_unavailable()
        self.note.setText(reason or "")
        self.note.setVisible(reason is not None)
        self.add_button.setEnabled(reason is None)
        for strip in self.strips.values():
            strip.setEnabled(reason is None)

    def sync(self, mixer) -> None:
        """Update strips in place; add/remove only those whose feature came or went."""
        wanted = mixer.features()
        for feature in [f for f in self.strips if f not in wanted]:
            self.strips.pop(feature).deleteLater()
        for i, channel in enumerate(mixer.channels):
            strip = self.strips.get(channel.feature)
            if strip is None:
                strip = ChannelStrip(self.bench, channel)
                strip.setEnabled(self.bench.steering_unavailable() is None)
                self.strips[channel.feature] = strip
            self.row.insertWidget(i, strip)
            strip.sync(channel)

    def _add_clicked(self) -> None:
        feature = self.bench.selected_feature
        if feature is None:
            feature, ok = QInputDialog.getInt(self, "Add feature", "Feature id:", 0, 0, 10**7)
            self.window().activateWindow()  # the keyboard back to the window (X11 leaves none)
            if not ok:
                return
        self.bench.add_feature(feature, self._label(feature))

    def _label(self, feature: int) -> str:
        details = getattr(self.window(), "inspector", None)
        record = getattr(details, "record", None)
        if record is not None and record.id == feature:
            return record.best_label or ""
        return ""

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasFormat(FEATURE_MIME) and self.bench.steering_unavailable() is None:
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        text = bytes(event.mimeData().data(FEATURE_MIME)).decode()
        for part in filter(None, text.split(",")):
            self.bench.add_feature(int(part))
        event.acceptProposedAction()
