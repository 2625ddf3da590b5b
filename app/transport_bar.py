"""Transport toolbar: Render / Render+Play / Cancel, Stream and Auto-play toggles, Play (Space),
Loop (L), A/B (B), takes, Export (Ctrl+E), zoom, the audio-device note, and a drag handle that
drags the current take out as a WAV."""

from __future__ import annotations

import tempfile
from pathlib import Path

from PySide6.QtCore import QMimeData, Qt, QUrl
from PySide6.QtGui import QAction, QDrag, QKeySequence
from PySide6.QtWidgets import QComboBox, QLabel, QToolBar


class DragHandle(QLabel):
    """Drag this onto a DAW or the desktop: the current take is written to a temp WAV first."""

    def __init__(self, bench, parent=None) -> None:
        super().__init__("⠿ drag take", parent)
        self.bench = bench
        self.setToolTip("Drag the current steered take out as a WAV file")
        self.setCursor(Qt.OpenHandCursor)

    def mousePressEvent(self, event) -> None:
        take = self.bench.current_take
        if take is None or not take.loaded:
            return
        folder = Path(tempfile.mkdtemp(prefix="musae-drag-"))
        wav, _ = self.bench.session.export(take, folder / f"musae-take-{take.take_id}.wav")
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(wav))])
        drag = QDrag(self)
        drag.setMimeData(mime)
        drag.exec(Qt.CopyAction)


class TransportBar(QToolBar):
    def __init__(self, bench, transport, window, parent=None) -> None:
        super().__init__("Transport", parent)
        self.setObjectName("transport")
        self.bench, self.transport = bench, transport

        def action(text, shortcut, slot, checkable=False, tip="") -> QAction:
            act = QAction(text, self, checkable=checkable)
            if shortcut:
                act.setShortcut(QKeySequence(shortcut))
                act.setShortcutContext(Qt.ApplicationShortcut)
            act.setToolTip(f"{tip or text} ({shortcut})" if shortcut else tip or text)
            act.triggered.connect(lambda on=False: slot(on) if checkable else slot())
            self.addAction(act)
            return act

        self.render_action = action("⟳ Render", "Ctrl+R", bench.render, tip="Render the mixer")
        self.render_play_action = action(
            "⟳▶ Render+Play",
            "Ctrl+Shift+R",
            lambda: bench.render(play=True),
            tip="Render and play (starts at the first chunk when streaming)",
        )
        self.cancel_action = action("✕ Cancel", "Esc", bench.cancel_render, tip="Cancel the job")
        self.stream_action = action(
            "Stream",
            "",
            lambda on: self._set("stream_playback", on),
            True,
            tip="Start playback while the render is still running",
        )
        self.auto_play_action = action(
            "Auto-play",
            "",
            lambda on: self._set("auto_play", on),
            True,
            tip="Play every render (knob releases too) as soon as it can be heard",
        )
        self.sync_settings()
        self.addSeparator()
        self.play_action = action("▶ Play", "Space", lambda _on: transport.toggle_play(), True)
        self.loop_action = action("⟲ Loop", "L", transport.set_loop_enabled, True)
        self.ab_action = action(
            "A/B: steered", "B", transport.toggle_ab, tip="Toggle unsteered/steered"
        )
        self.addSeparator()
        self.takes = QComboBox(minimumWidth=260, toolTip="Takes history: pick one to recall it")
        self.takes.setSizeAdjustPolicy(QComboBox.AdjustToContents)  # never cut a take's name
        self.takes.activated.connect(self._recall)
        self.addWidget(self.takes)
        self.export_action = action("⤓ Export WAV", "Ctrl+E", window.export_dialog)
        self.addWidget(DragHandle(bench))
        self.addSeparator()
        action("Zoom +", "Ctrl+=", lambda: window.arrangement.zoom(2.0))
        action("Zoom −", "Ctrl+-", lambda: window.arrangement.zoom(0.5))
        self.audio_note = QLabel(objectName="note")
        self.addWidget(self.audio_note)
        self.cancel_action.setEnabled(False)
        bench.renderingChanged.connect(self.cancel_action.setEnabled)
        bench.takesChanged.connect(self._takes)
        bench.currentTakeChanged.connect(self._current)
        bench.resourcesChanged.connect(self._resources)
        transport.playingChanged.connect(self._playing)
        transport.abChanged.connect(lambda w: self.ab_action.setText(f"A/B: {w}"))
        self._resources()
        self._playable()

    def sync_settings(self) -> None:
        """Show the streaming preferences (also after the settings dialog changed them)."""
        self.stream_action.setChecked(self.bench.settings.stream_playback)
        self.auto_play_action.setChecked(self.bench.settings.auto_play)

    def _set(self, name: str, on: bool) -> None:
        setattr(self.bench.settings, name, bool(on))

    def _resources(self) -> None:
        self.render_action.setEnabled(self.bench.can_render())
        self.render_play_action.setEnabled(self.bench.can_render())
        out = self.transport.output
        self.audio_note.setText("" if out.available else "🔇 " + out.reason)

    def _playing(self, on: bool) -> None:
        self.play_action.setChecked(on)
        self.play_action.setText("■ Stop" if on else "▶ Play")
        self._playable()

    def _playable(self) -> None:
        """Play, Loop and A/B only when there is a take to hear (Play also stops a clip)."""
        take = self.bench.current_take
        has_take = take is not None and take.loaded
        self.play_action.setEnabled(has_take or self.transport.output.playing)
        self.loop_action.setEnabled(has_take)
        self.ab_action.setEnabled(has_take)

    def _takes(self) -> None:
        self.takes.clear()
        for take in reversed(self.bench.session.takes):
            self.takes.addItem(take.name(), take.take_id)
            self.takes.setItemData(self.takes.count() - 1, take.name(), Qt.ToolTipRole)
        self._current(self.bench.current_take)

    def _current(self, take) -> None:
        has = take is not None and take.loaded
        self.export_action.setEnabled(has)
        self._playable()
        if take is not None:
            i = self.takes.findData(take.take_id)
            if i >= 0:
                self.takes.setCurrentIndex(i)

    def _recall(self, index: int) -> None:
        take_id = self.takes.itemData(index)
        for take in self.bench.session.takes:
            if take.take_id == take_id and take is not self.bench.current_take:
                self.bench.recall_take(take)
