"""Unsaved work is never dropped without asking, and a new project starts clean on the same
model, SAE and features (a newcomer walk lost a steered take to Ctrl+N, and the new project
still showed the old take, browser rows and inspector)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from test_app_flow import TIMEOUT, loaded, wait_job, window  # noqa: F401

from app.arrangement import NO_TAKE


def answer(win, reply: str) -> list[str]:
    asked: list[str] = []
    win.unsaved_prompt = lambda _w, _name, action: asked.append(action) or reply
    return asked


def steer_and_render(qtbot, bench) -> None:
    bench.auto_render = False
    bench.add_feature(5)
    bench.update_channel(5, strength=1.5)
    with qtbot.waitSignal(bench.currentTakeChanged, timeout=TIMEOUT):
        bench.render()
    bench.select_feature(5)
    wait_job(qtbot, bench, "inspect")


def test_new_project_asks_and_cancel_keeps_everything(loaded, qtbot):  # noqa: F811
    win, bench = loaded, loaded.bench
    steer_and_render(qtbot, bench)
    assert bench.dirty
    asked = answer(win, "cancel")
    win.new_project()
    assert asked == ["start a new project"]
    assert bench.mixer.features() == [5] and bench.current_take is not None


def test_new_project_on_discard_starts_clean_on_the_same_resources(loaded, qtbot):  # noqa: F811
    win, bench = loaded, loaded.bench
    steer_and_render(qtbot, bench)
    model, sae, db = bench.session.model, bench.session.sae, bench.session.db
    qtbot.waitUntil(lambda: win.inspector.record is not None, timeout=TIMEOUT)
    assert win.inspector.plots_box.isVisible()
    answer(win, "discard")
    win.new_project()
    assert bench.mixer.features() == [] and bench.current_take is None
    assert bench.project.path is None and not bench.dirty
    assert (bench.session.model, bench.session.sae, bench.session.db) == (model, sae, db)
    assert bench.steering_unavailable() is None  # knobs work at once, nothing reloaded
    qtbot.waitUntil(lambda: win.browser.model.rowCount() == 48, timeout=TIMEOUT)
    assert win.arrangement.title.text() == NO_TAKE and not win.arrangement.lane_items
    assert win.inspector.record is None and win.inspector.labels.rowCount() == 0
    assert not win.inspector.plots_box.isVisible()  # no empty histogram or neighbour list


def test_save_then_go_on_and_quit_cancel_keeps_the_window(loaded, qtbot, tmp_path):  # noqa: F811
    win, bench = loaded, loaded.bench
    path = tmp_path / "song" / "song.musae.json"
    path.parent.mkdir()
    bench.save_project(path)
    wait_job(qtbot, bench, "save")
    steer_and_render(qtbot, bench)
    answer(win, "save")
    win.new_project()  # saved first, then the new project
    saved = json.loads(path.read_text())
    assert [c["feature"] for c in saved["mixer"]["channels"]] == [5]
    assert len(saved["takes"]) == 1 and bench.mixer.features() == []
    bench.add_feature(7)
    asked = answer(win, "cancel")
    win.close()
    assert asked == ["quit"] and win.isVisible()  # still open, the edit still there
    assert bench.mixer.features() == [7]
    answer(win, "discard")
    win.close()
    assert not win.isVisible()
