"""Punch-in in the app: P sets the marker at the playhead, Punch in makes a new take derived
from the current one (the same before the point), and a knob released while the steered take
streams lands at a chunk boundary of that same render (no restart)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from test_app_flow import TIMEOUT, loaded, window  # noqa: F401


def _action(win, text: str):
    for menu in win.menuBar().findChildren(type(win.menuBar().actions()[0].menu())):
        for act in menu.actions():
            if act.text() == text:
                return act
    raise AssertionError(f"no menu action {text!r}")


def test_marker_and_punch_in_make_a_derived_take(loaded, qtbot):  # noqa: F811
    bench, arrangement = loaded.bench, loaded.arrangement
    bench.auto_render = False
    bench.set_master(duration=2.0, seed=9)
    bench.add_feature(5, "piano 5")
    bench.update_channel(5, strength=2.0)
    with qtbot.waitSignal(bench.currentTakeChanged, timeout=TIMEOUT):
        bench.render()
    parent = bench.current_take
    loaded.transport.seek(1.0)
    _action(loaded, "Set punch-in marker at playhead").trigger()
    assert arrangement.punch_seconds == pytest.approx(1.0, abs=0.01)
    assert all(line.isVisible() for line in arrangement.punch_lines)
    bench.update_channel(5, strength=-6.0)
    with qtbot.waitSignal(bench.currentTakeChanged, timeout=TIMEOUT):
        _action(loaded, "Punch in from marker").trigger()
    take = bench.current_take
    assert take.parent_id == parent.take_id and take.punch_seconds == pytest.approx(1.0, abs=0.02)
    cut = round(take.punch_seconds * take.sample_rate)
    np.testing.assert_array_equal(take.steered[:, :cut], parent.steered[:, :cut])
    assert not np.array_equal(take.steered[:, cut + 1000 :], parent.steered[:, cut + 1000 :])
    assert take.metadata["recipe"]["segments"][1]["mixer"]["channels"][0]["strength"] == -6.0
    names = [loaded.transport_bar.takes.itemText(i) for i in range(bench.session.takes.__len__())]
    assert any(f"punched into take {parent.take_id}" in n for n in names)


def test_knob_released_while_streaming_lands_in_the_same_render(loaded, qtbot):  # noqa: F811
    bench = loaded.bench
    bench.auto_render = True
    bench.set_master(duration=4.0, seed=23)
    bench.add_feature(5, "piano 5")
    bench.session.history.apply(bench.mixer.update(5, strength=2.0), "setup")
    job = bench.render(play=True)
    feed = bench.streaming
    qtbot.waitUntil(lambda: feed.available > 0, timeout=TIMEOUT)
    assert job.state == "running"
    bench.preview_channel(5, strength=-6.0)
    bench.commit_gesture()  # the knob release
    assert bench.jobs.current("render") is job and bench.streaming is feed  # no restart
    with qtbot.waitSignal(bench.currentTakeChanged, timeout=TIMEOUT):
        pass
    take = bench.current_take
    segments = take.metadata["recipe"]["segments"]
    assert len(segments) == 2 and segments[1]["mixer"]["channels"][0]["strength"] == -6.0
    assert 0 < take.punch_seconds < 4.0
    loaded.output.stop()
