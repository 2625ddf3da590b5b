"""Unit checks of the audio core (A/B at the same position, loop) and the knob's gestures."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")


def test_playback_core_ab_keeps_position_and_loops():
    from app.playback import PlaybackCore

    core = PlaybackCore()
    a = np.full((1, 1000), 0.5, np.float32)
    b = np.full((1, 1000), 1.0, np.float32)
    core.load(a, b, (1.0, 0.5), 1000)
    core.playing = True
    out = np.zeros((100, 1), np.float32)
    core.fill(out)
    assert core.position == 100 and np.allclose(out, 0.5)  # B at gain 0.5
    core.which = 0
    core.fill(out)
    assert core.position == 200 and np.allclose(out, 0.5)  # A at gain 1.0, same position
    core.loop = (150, 250)
    core.fill(out)
    assert 150 <= core.position <= 250
    core.loop = None
    core.position = 950
    core.fill(out)
    assert not core.playing and np.allclose(out[50:], 0.0)


def test_knob_wheel_shift_and_reset(qtbot):
    from PySide6.QtCore import QPoint, QPointF, Qt
    from PySide6.QtGui import QWheelEvent

    from app.knob import Knob

    knob = Knob(step=0.1)
    qtbot.addWidget(knob)
    finished = []
    knob.gestureFinished.connect(finished.append)

    def wheel(mods=Qt.NoModifier):
        pos = QPointF(10, 10)
        event = QWheelEvent(
            pos, pos, QPoint(), QPoint(0, 120), Qt.NoButton, mods, Qt.NoScrollPhase, False
        )
        knob.wheelEvent(event)

    wheel()
    assert knob.value() == pytest.approx(0.1)
    wheel(Qt.ShiftModifier)
    assert knob.value() == pytest.approx(0.11)
    qtbot.mouseDClick(knob, Qt.LeftButton)
    assert knob.value() == 0.0 and finished[-1] == 0.0
