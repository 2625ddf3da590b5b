"""First run and the arrangement in the real window (offscreen): loading shown as loading, the
browser before the model, a clean title, the Help menu, labelled strips, the arrangement's room,
and a reopened project that draws its activation lanes again."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QMimeData, QPointF, Qt
from PySide6.QtGui import QDropEvent
from test_app_flow import TIMEOUT, loaded, wait_job, window  # noqa: F401


@pytest.fixture
def project_file(tmp_path, tiny_sae_dir, feature_db_path):
    from musae_core.workstation import Project

    project = Project(
        model_id="tiny", sae_path=str(tiny_sae_dir), feature_db_path=str(feature_db_path)
    )
    return project.save(tmp_path / "song.musae.json")


def test_loading_says_loading_and_the_browser_fills_before_the_model(window, qtbot, project_file):  # noqa: F811
    bench = window.bench
    bench.open_project(project_file)
    assert "Loading tiny" in window.mixer.note.text() and "Offline" not in window.mixer.note.text()
    assert "Loading" in window.statusBar().currentMessage()
    assert window.load_progress.isVisible()
    qtbot.waitUntil(lambda: window.browser.model.rowCount() == 48, timeout=TIMEOUT)
    assert bench.session.model is None  # the features are browsable while the model loads
    wait_job(qtbot, bench, "load")
    assert bench.session.model is not None and not window.mixer.note.isVisible()
    assert not window.load_progress.isVisible()
    assert window.windowTitle() == "song.musae.json — musae"  # opened, not edited: no *


def test_offline_inspection_title_is_not_unsaved(window, qtbot, feature_db_path):  # noqa: F811
    from app.main import build_parser, open_from_args

    open_from_args(window, build_parser().parse_args(["--feature-db", str(feature_db_path)]))
    qtbot.waitUntil(lambda: window.browser.model.rowCount() == 48, timeout=TIMEOUT)
    assert window.windowTitle() == "untitled — musae"
    assert "Offline inspection" in window.mixer.note.text()


def test_help_menu_lists_shortcuts_first_steps_and_about(window):  # noqa: F811
    from app.errors import log_file
    from musae_core.workstation.settings import data_dir

    menus = [a.text() for a in window.menuBar().actions()]
    assert "&Help" in menus
    shortcuts = window.show_shortcuts()
    text = shortcuts.text.toPlainText()
    for keys in ("Space", "L", "B", "Ctrl+R", "Ctrl+Q", "Ctrl+E"):
        assert f"\n{keys}\t" in f"\n{text}" or keys in text.split()
    assert shortcuts.isModal()
    shortcuts.close()
    assert "Render" in window.show_first_steps().text.toPlainText()
    about = window.show_about().text.toPlainText()
    assert str(data_dir()) in about and str(log_file()) in about and "PySide6" in about


def test_a_strip_dropped_from_the_browser_carries_its_label(loaded, qtbot, tmp_path):  # noqa: F811
    bench = loaded.bench
    bench.auto_render = False
    label = bench.session.db.feature(5).best_label
    assert label
    mime = QMimeData()
    mime.setData("application/x-musae-feature", b"5")
    event = QDropEvent(QPointF(10, 10), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    loaded.mixer.dropEvent(event)
    assert bench.mixer.channel(5).label == label
    assert label[:20] in loaded.mixer.strips[5].title.text()
    bench.update_channel(5, strength=1.0)
    with qtbot.waitSignal(bench.currentTakeChanged, timeout=TIMEOUT):
        bench.render()
    bench.export(tmp_path / "take.wav")
    wait_job(qtbot, bench, "export")
    sidecar = json.loads((tmp_path / "take.json").read_text())
    assert sidecar["mixer"]["channels"][0]["label"] == label


def test_the_arrangement_gets_the_room_and_nothing_covers_its_lanes(loaded, qtbot):  # noqa: F811
    bench, win = loaded.bench, loaded
    win.resize(1600, 1000)
    win.reset_layout()
    qtbot.wait(50)
    centre = win.arrangement.width()
    assert centre > win.docks["browser"].width() and centre > win.docks["inspector"].width()
    assert centre >= 0.38 * win.width()  # ~40 %: the inspector keeps a readable width
    assert win.docks["inspector"].width() >= 300
    bench.auto_render = False
    bench.add_feature(5)
    bench.update_channel(5, strength=2.0)
    with qtbot.waitSignal(bench.currentTakeChanged, timeout=TIMEOUT):
        bench.render()
    take = bench.current_take
    qtbot.waitUntil(lambda: win.arrangement._shown == (take.take_id, "steered"), timeout=TIMEOUT)
    lanes = win.arrangement.lanes.vb.sceneBoundingRect()
    legend = win.arrangement.legend.sceneBoundingRect()
    assert not lanes.intersects(legend)
    box = win.transport_bar.takes
    assert box.width() >= box.fontMetrics().horizontalAdvance(box.currentText())
    lanes = win.arrangement
    assert "peak" in lanes._lane_name(5, 1.5)
    assert lanes._lane_name(5, 0.0).endswith("silent in this take")  # was "peak 1.00"


def test_the_window_fits_a_laptop_screen(window, qtbot):  # noqa: F811
    """A 1366x768 laptop leaves ~720 px: the window needed 789 (the master settings' height);
    at 1280 px after View > Reset layout the inspector was ~150 px wide, its labels gone."""
    win = window
    assert win.minimumSizeHint().height() <= 700
    win.resize(1280, 720)
    win.reset_layout()
    qtbot.wait(50)
    assert win.docks["inspector"].width() >= 300
    assert win.arrangement.width() >= 0.25 * win.width()


def test_a_reopened_project_draws_its_activation_lanes(loaded, qtbot, tmp_path):  # noqa: F811
    bench = loaded.bench
    bench.auto_render = False
    bench.add_feature(3, "drums 3")
    bench.update_channel(3, strength=1.5)
    with qtbot.waitSignal(bench.currentTakeChanged, timeout=TIMEOUT):
        bench.render()
    before = bench.current_take.activations[3].copy()
    path = tmp_path / "proj" / "song.musae.json"
    path.parent.mkdir()
    bench.save_project(path)
    wait_job(qtbot, bench, "save")
    bench.new_project(None)
    bench.open_project(path)
    wait_job(qtbot, bench, "load")
    take = bench.current_take
    assert take is not None and (take.activations[3] == before).all()
    qtbot.waitUntil(lambda: len(loaded.arrangement.lane_items) == 1, timeout=TIMEOUT)
    assert loaded.arrangement._drawn is take
