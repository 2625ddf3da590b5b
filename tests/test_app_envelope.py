"""Strength envelopes drawn with the mouse on an activation lane: add, drag, delete, undo."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication
from test_app_flow import TIMEOUT, loaded, wait_job, window  # noqa: F401

from musae_core.steering import Envelope


def _viewport_pos(arrangement, seconds: float, y: float) -> QPoint:
    vb = arrangement.lanes.getViewBox()
    scene = vb.mapViewToScene(QPointF(seconds, y))
    return arrangement.plots.mapFromScene(scene)


def _mouse(widget, kind, pos: QPoint, button, buttons) -> None:
    event = QMouseEvent(
        kind, QPointF(pos), widget.mapToGlobal(QPointF(pos)), button, buttons, Qt.NoModifier
    )
    QApplication.sendEvent(widget, event)


def _drag(qtbot, widget, start: QPoint, end: QPoint) -> None:
    left = Qt.LeftButton
    _mouse(widget, QMouseEvent.MouseButtonPress, start, left, left)
    for step in range(1, 7):
        pos = start + (end - start) * (step / 6)
        _mouse(widget, QMouseEvent.MouseMove, pos, Qt.NoButton, left)
        qtbot.wait(5)
    _mouse(widget, QMouseEvent.MouseButtonRelease, end, left, Qt.NoButton)


def _double_click(widget, pos: QPoint) -> None:
    """What Qt 6 delivers for a double-click: press, release, press, double-click, release."""
    left, none, ev = Qt.LeftButton, Qt.NoButton, QMouseEvent
    sequence = [(ev.MouseButtonPress, left), (ev.MouseButtonRelease, none)] * 2
    sequence.insert(3, (ev.MouseButtonDblClick, left))
    for kind, buttons in sequence:
        _mouse(widget, kind, pos, left, buttons)


def test_draw_envelope_on_lane_renders_and_undoes(loaded, qtbot):  # noqa: F811
    bench, view = loaded.bench, loaded.arrangement
    requests = []
    interventions = bench.session.interventions

    def spy(mixer, master):
        result = interventions(mixer, master)
        requests.append(result)
        return result

    bench.session.interventions = spy
    bench.add_feature(5, "piano")
    bench.update_channel(5, strength=2.0)
    strip = loaded.mixer.strips[5]
    viewport = view.plots.viewport()
    qtbot.waitUntil(lambda: view.lane_features() == [5], timeout=TIMEOUT)
    qtbot.mouseClick(viewport, Qt.LeftButton, pos=_viewport_pos(view, 0.25, 0.45))
    assert bench.mixer.channel(5).envelope == ()  # envelope off: a click on the lane is a no-op
    qtbot.mouseClick(strip.envelope, Qt.LeftButton)  # toggle on: flat, full strength
    assert bench.mixer.channel(5).envelope == ((0.0, 1.0), (0.5, 1.0))
    assert strip.envelope.isChecked() and 5 in view.envelopes.items
    wait_job(qtbot, bench, "render")
    qtbot.mouseClick(viewport, Qt.LeftButton, pos=_viewport_pos(view, 0.25, 0.45))
    points = bench.mixer.channel(5).envelope
    assert len(points) == 3
    assert points[1] == (pytest.approx(0.25, abs=0.02), pytest.approx(0.5, abs=0.05))
    wait_job(qtbot, bench, "render")
    steps = len(bench.session.history._undo)
    _drag(qtbot, viewport, _viewport_pos(view, 0.25, 0.45), _viewport_pos(view, 0.35, 0.18))
    moved = bench.mixer.channel(5).envelope
    assert moved[1] == (pytest.approx(0.35, abs=0.02), pytest.approx(0.2, abs=0.05))
    assert len(bench.session.history._undo) == steps + 1  # one drag, one undo step
    wait_job(qtbot, bench, "render")
    take = bench.current_take
    assert take.mixer.channel(5).envelope == moved
    envelope = requests[-1][0].envelope
    assert isinstance(envelope, Envelope) and envelope.points == moved
    assert take.metadata and view.envelopes.items[5][1].data.size == 3
    # right-click deletes a point; undo brings it back; double-click deletes too
    qtbot.mouseClick(viewport, Qt.RightButton, pos=_viewport_pos(view, 0.35, 0.18))
    assert len(bench.mixer.channel(5).envelope) == 2
    bench.undo()
    assert bench.mixer.channel(5).envelope == moved
    _double_click(viewport, _viewport_pos(view, 0.35, 0.18))
    assert bench.mixer.channel(5).envelope == (moved[0], moved[2])
    wait_job(qtbot, bench, "render")
    for _ in range(4):  # delete, drag, add, toggle: four gestures, four undo steps
        bench.undo()
    assert bench.mixer.channel(5).envelope == () and bench.mixer.channel(5).strength == 2.0
    assert not strip.envelope.isChecked() and 5 not in view.envelopes.items
    assert all(iv.envelope is None for iv in bench.session.interventions(bench.mixer, bench.master))
