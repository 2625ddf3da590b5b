"""MIDI learn: right-click a knob or master control -> "MIDI learn", move a hardware control.

Any widget with a ``midi_target`` property (``feature:ID`` / ``master:NAME``, see
``musae_core.workstation.midi_map``) gets the menu. Messages arrive on rtmidi's thread and
cross into the UI thread through a queued signal; a mapped value then takes the same path as a
mouse gesture, and a burst of messages (until ``GESTURE_MS`` of silence) is one undo step.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QApplication, QMenu, QWidget

from musae_core.workstation.midi_input import MidiInputs
from musae_core.workstation.midi_map import (
    MidiEvent,
    MidiMapping,
    bind,
    event_from_mido,
    forget,
)

TARGET_PROPERTY = "midi_target"


def _target_of(obj: QObject) -> tuple[QWidget, str] | None:
    """The widget (``obj`` or a parent, e.g. a spin box's line edit) that has a MIDI target."""
    widget = obj if isinstance(obj, QWidget) else None
    for _ in range(3):
        if widget is None:
            return None
        target = widget.property(TARGET_PROPERTY)
        if target:
            return widget, str(target)
        widget = widget.parentWidget()
    return None


def _range(widget: QWidget) -> tuple[float, float]:
    """The control's own range (a Knob's attributes or a spin box's methods)."""
    lo, hi = widget.minimum, widget.maximum
    return float(lo() if callable(lo) else lo), float(hi() if callable(hi) else hi)


class MidiLearn(QObject):
    """Owns the MIDI inputs, the learn state and the gesture timer; mappings live in the
    project (``bench.project.midi``)."""

    received = Signal(object)  # MidiEvent, emitted on any thread (queued to the UI thread)
    learningChanged = Signal(str)  # the target being learned, "" when none
    mappingsChanged = Signal()

    GESTURE_MS = 300

    def __init__(self, bench, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.bench = bench
        self.learning: tuple[str, float, float] | None = None
        self.menu: QMenu | None = None
        self.input_note: str | None = None  # why no MIDI input is open, in words
        self._gesture_label = ""
        self._before = None  # the mixer before the current burst
        self._gesture = QTimer(self, singleShot=True, interval=self.GESTURE_MS)
        self._gesture.timeout.connect(self.close_gesture)
        self.received.connect(self.handle)
        self.inputs = MidiInputs(self.received.emit)
        bench.projectChanged.connect(self._project_changed)
        self._features: list[int] = []
        bench.mixerChanged.connect(self._mixer_changed)
        self.learningChanged.connect(lambda _t: self.refresh_marks())
        self.mappingsChanged.connect(self.refresh_marks)
        QApplication.instance().installEventFilter(self)

    # --- inputs ----------------------------------------------------------------------------
    def open_inputs(self) -> str | None:
        """(Re)open the input named in the settings ("" = all); returns why none is open."""
        self.input_note = self.inputs.open(self.bench.settings.midi_input)
        return self.input_note

    def close(self) -> None:
        self.close_gesture()
        self.inputs.close()

    def settings_dialog(self, parent: QWidget | None = None) -> bool:
        """Settings > MIDI; True when the user accepted (the port choice is then applied)."""
        from app.midi_settings import MidiSettingsDialog

        dialog = MidiSettingsDialog(self, parent)
        if not dialog.exec():
            return False
        dialog.apply()
        return True

    def feed(self, event: MidiEvent) -> None:
        """Hand over one event (any thread): what the input ports' callback does."""
        self.received.emit(event)

    def feed_mido(self, message, port: str = "") -> None:
        event = event_from_mido(message, port)
        if event is not None:
            self.feed(event)

    # --- learn -----------------------------------------------------------------------------
    def start_learning(self, target: str, minimum: float, maximum: float) -> None:
        self.learning = (target, minimum, maximum)
        self.learningChanged.emit(target)
        note = f" ({self.input_note})" if self.input_note else ""
        self.bench.status.emit(f"MIDI learn: move a control for {target} (Esc cancels){note}")

    def cancel_learning(self) -> None:
        if self.learning is not None:
            self.learning = None
            self.learningChanged.emit("")
            self.bench.status.emit("MIDI learn cancelled")

    def forget(self, target: str) -> None:
        self._set_mappings(forget(self.bench.project.midi, target))

    def mapping_for(self, target: str) -> MidiMapping | None:
        return next((m for m in self.bench.project.midi if m.target == target), None)

    def _set_mappings(self, mappings) -> None:
        if mappings != self.bench.project.midi:
            self.bench.project.midi = mappings
            self.bench.dirty = True
            self.mappingsChanged.emit()

    def _project_changed(self) -> None:
        self.learning = None
        self._gesture.stop()
        self.mappingsChanged.emit()

    def _mixer_changed(self, mixer) -> None:
        """New strips get their marks (only when the strip set changed, not per knob value)."""
        features = mixer.features()
        if features != self._features:
            self._features = features
            QTimer.singleShot(0, self.refresh_marks)  # after the mixer panel made the strips

    def refresh_marks(self) -> None:
        """Show on every knob whether it is learning or mapped (feedback on screen)."""
        learning = self.learning[0] if self.learning else None
        mapped = {m.target for m in self.bench.project.midi}
        for widget in QApplication.allWidgets():
            target = widget.property(TARGET_PROPERTY)
            if target and hasattr(widget, "set_midi_mark"):
                mark = "learn" if target == learning else "mapped" if target in mapped else ""
                widget.set_midi_mark(mark)

    # --- incoming values -------------------------------------------------------------------
    def handle(self, event: MidiEvent) -> None:
        """Learn mode: bind the control; otherwise move every control mapped to it."""
        if self.learning is not None:
            target, lo, hi = self.learning
            mapping = MidiMapping.learn(event, target, lo, hi)
            self.learning = None
            self._set_mappings(bind(self.bench.project.midi, mapping))
            self.learningChanged.emit("")
            self.bench.status.emit(f"MIDI: {mapping.describe()} -> {target}")
            return
        for mapping in self.bench.project.midi:
            if mapping.matches(event):
                self._apply(mapping, mapping.value(event.value))

    def _apply(self, mapping: MidiMapping, value: float) -> None:
        feature = mapping.feature
        if feature is not None:
            if feature not in self.bench.mixer.features():
                return
            if not self._gesture_label:
                self._before = self.bench.mixer
            self.bench.preview_channel(feature, strength=round(value, 4))
            self._gesture_label = f"#{feature} strength (MIDI)"
            self._gesture.start()
            return
        name = mapping.master
        self.bench.set_master(**{name: round(value) if name == "top_k" else round(value, 4)})

    def close_gesture(self) -> None:
        """After a burst: one undo step (and one auto-render), like a knob release."""
        if self._gesture_label:
            self._gesture.stop()
            label, self._gesture_label = self._gesture_label, ""
            if self.bench.mixer == self._before:  # e.g. undone mid-burst: nothing to render
                self.bench.session.history.commit(label)
            else:
                self.bench.commit_gesture(label)

    # --- the right-click menu and Esc ------------------------------------------------------
    def menu_for(self, widget: QWidget, target: str) -> QMenu:
        menu = QMenu(widget)
        lo, hi = _range(widget)
        learn = menu.addAction("MIDI learn")
        learn.triggered.connect(lambda _on=False: self.start_learning(target, lo, hi))
        mapping = self.mapping_for(target)
        drop = menu.addAction("Forget MIDI mapping")
        drop.setEnabled(mapping is not None)
        drop.triggered.connect(lambda _on=False: self.forget(target))
        if mapping is not None:
            menu.addSeparator()
            menu.addAction(f"Mapped to {mapping.describe()}").setEnabled(False)
        return menu

    def _owns(self, widget: QWidget) -> bool:
        """Only this window's controls (floating docks included): the filter is app-wide."""
        owner = self.parent()
        while widget is not None and owner is not None:
            if widget is owner:
                return True
            widget = widget.parentWidget()
        return owner is None

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind == QEvent.ContextMenu:
            found = _target_of(obj)
            if found is not None and self._owns(found[0]):
                self.menu = self.menu_for(*found)
                self.menu.popup(event.globalPos())
                return True
        elif (
            kind in (QEvent.ShortcutOverride, QEvent.KeyPress)
            and self.learning is not None
            and event.key() == Qt.Key_Escape
        ):
            event.accept()
            if kind == QEvent.KeyPress:
                self.cancel_learning()
            return True
        return False
