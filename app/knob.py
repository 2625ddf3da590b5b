"""A DAW knob: linear vertical drag (Shift = fine), wheel steps, double-click reset, readout.

Emits ``gestureStarted`` / ``valueChanged`` (live) / ``gestureFinished`` so the mixer records
one undo step per drag, not one per pixel. ``midi_mark`` shows MIDI learn's state on the knob.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QWidget

from app.theme import ACCENT


class Knob(QWidget):
    gestureStarted = Signal()
    valueChanged = Signal(float)
    gestureFinished = Signal(float)

    PIXELS_FULL_RANGE = 200.0
    FINE = 0.1

    def __init__(self, minimum=-4.0, maximum=4.0, default=0.0, step=0.05, parent=None) -> None:
        super().__init__(parent)
        self.minimum, self.maximum, self.default, self.step = minimum, maximum, default, step
        self._value = default
        self._drag_y: float | None = None
        self.midi_mark = ""  # "learn" (waiting for a control), "mapped", or "" (app.midi_learn)
        self.setFixedSize(QSize(64, 78))
        self.setFocusPolicy(Qt.StrongFocus)
        self.setCursor(Qt.SizeVerCursor)
        self.setToolTip(
            "Drag up/down (Shift: fine), wheel to step, double-click to reset; "
            "right-click: MIDI learn"
        )

    def set_midi_mark(self, mark: str) -> None:
        if mark != self.midi_mark:
            self.midi_mark = mark
            self.update()

    def value(self) -> float:
        return self._value

    def setValue(self, value: float, emit: bool = False) -> None:
        value = round(min(self.maximum, max(self.minimum, float(value))), 4)
        if value != self._value:
            self._value = value
            self.update()
            if emit:
                self.valueChanged.emit(value)

    # --- gestures ------------------------------------------------------------------------------
    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.LeftButton:
            self._drag_y = event.position().y()
            self.gestureStarted.emit()

    def mouseMoveEvent(self, event) -> None:
        if self._drag_y is None:
            return
        y = event.position().y()
        dy, self._drag_y = self._drag_y - y, y
        scale = (self.maximum - self.minimum) / self.PIXELS_FULL_RANGE
        if event.modifiers() & Qt.ShiftModifier:
            scale *= self.FINE
        self.setValue(self._value + dy * scale, emit=True)

    def mouseReleaseEvent(self, event) -> None:
        if self._drag_y is not None and event.button() == Qt.LeftButton:
            self._drag_y = None
            self.gestureFinished.emit(self._value)

    def mouseDoubleClickEvent(self, event) -> None:
        self.gestureStarted.emit()
        self.setValue(self.default, emit=True)
        self.gestureFinished.emit(self._value)

    def wheelEvent(self, event) -> None:
        steps = event.angleDelta().y() / 120
        if not steps:
            return
        fine = self.FINE if event.modifiers() & Qt.ShiftModifier else 1.0
        self.gestureStarted.emit()
        self.setValue(self._value + steps * self.step * fine, emit=True)
        self.gestureFinished.emit(self._value)

    # --- drawing -------------------------------------------------------------------------------
    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing)
        size = min(self.width(), self.height() - 18) - 8
        rect = QRectF((self.width() - size) / 2, 4, size, size)
        p.setPen(QPen(QColor("#44484e"), 5))
        p.drawArc(rect, -45 * 16, 270 * 16)
        span = (self._value - self.minimum) / (self.maximum - self.minimum)
        zero = (self.default - self.minimum) / (self.maximum - self.minimum)
        p.setPen(QPen(QColor(ACCENT), 5))
        start = 225 - 270 * zero
        p.drawArc(rect, int(start * 16), int(-270 * (span - zero) * 16))
        angle = math.radians(225 - 270 * span)
        c = rect.center()
        tip = QPointF(c.x() + math.cos(angle) * size / 2.6, c.y() - math.sin(angle) * size / 2.6)
        p.setPen(QPen(QColor("#dddddd"), 2))
        p.drawLine(c, tip)
        p.drawText(
            QRectF(0, self.height() - 16, self.width(), 16), Qt.AlignCenter, f"{self._value:+.2f}"
        )
        if self.midi_mark:
            p.setPen(QColor(ACCENT if self.midi_mark == "learn" else "#8ab4f8"))
            text = "learn…" if self.midi_mark == "learn" else "MIDI"
            p.drawText(QRectF(0, 0, self.width(), 12), Qt.AlignLeft | Qt.AlignTop, text)
