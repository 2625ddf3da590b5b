"""Ctrl+E opens in the project's exports folder and names the side it exports (both offered);
a reopened project restores A/B, loop and auto-render as saved (issue 18, section 5)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

import soundfile as sf
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from test_app_flow import TIMEOUT, loaded, wait_job, window  # noqa: F401


def render(win, qtbot):
    with qtbot.waitSignal(win.bench.currentTakeChanged, timeout=TIMEOUT):
        win.transport_bar.render_action.trigger()
    return win.bench.current_take


def save_as(win, qtbot, path):
    win._store_transport()  # what File > Save As does before it writes
    win.bench.save_project(path)
    wait_job(qtbot, win.bench, "save")


def run_export_dialog(win, qtbot, pick_side: str | None = None) -> dict:
    """Press Ctrl+E's action; read the dialog as the user sees it, then accept it."""
    seen: dict = {}

    def drive() -> None:
        dialog = QApplication.activeModalWidget()
        if dialog is None or dialog.objectName() != "export_dialog":
            QTimer.singleShot(50, drive)
            return
        seen.update(
            title=dialog.windowTitle(),
            folder=dialog.directory().absolutePath(),
            files=[f.rsplit("/", 1)[-1] for f in dialog.selectedFiles()],
        )
        if pick_side:
            dialog.set_side(pick_side)
            seen["picked_title"] = dialog.windowTitle()
        dialog.accept()

    QTimer.singleShot(0, drive)
    win.transport_bar.export_action.trigger()
    wait_job(qtbot, win.bench, "export")
    return seen


def test_export_opens_in_project_exports_folder_and_names_the_side(loaded, qtbot, tmp_path):  # noqa: F811
    win, bench = loaded, loaded.bench
    bench.auto_render = False
    bench.add_feature(5)
    bench.update_channel(5, strength=3.0)
    take = render(win, qtbot)
    project = tmp_path / "song" / "song.musae.json"
    save_as(win, qtbot, project)
    win.transport_bar.ab_action.trigger()  # the user is listening to A (unsteered)
    seen = run_export_dialog(win, qtbot)
    exports = project.parent / "exports"
    assert seen["folder"] == str(exports)  # not the process's working directory
    assert "unsteered" in seen["title"]
    assert seen["files"] == [f"take-{take.take_id}-unsteered.wav"]
    data, _ = sf.read(exports / f"take-{take.take_id}-unsteered.wav")
    assert data.shape[0] == take.unsteered.shape[-1]
    meta = json.loads((exports / f"take-{take.take_id}-unsteered.json").read_text())
    assert meta["take"] == "unsteered"
    # both sides, offered in the same dialog: two files named by side
    seen = run_export_dialog(win, qtbot, pick_side="both")
    assert "both" in seen["picked_title"]
    for side in ("steered", "unsteered"):
        meta = json.loads((exports / f"take-{take.take_id}-{side}.json").read_text())
        assert meta["take"] == side


def test_unsaved_project_exports_to_music_folder_not_cwd(qtbot, tmp_path, monkeypatch):
    from app.export_dialog import export_folder

    monkeypatch.chdir(tmp_path)
    folder = export_folder(None)
    assert folder != tmp_path and tmp_path not in folder.parents


def test_reopen_restores_ab_loop_and_auto_render(loaded, qtbot, tmp_path):  # noqa: F811
    win, bench = loaded, loaded.bench
    win.mixer.auto.setChecked(False)  # the user turned auto-render off
    render(win, qtbot)
    win.transport.set_loop_region(0.1, 0.3)
    win.transport_bar.loop_action.trigger()  # loop on
    win.transport_bar.ab_action.trigger()  # A/B on unsteered
    path = tmp_path / "p" / "p.musae.json"
    save_as(win, qtbot, path)
    bench.new_project(None)  # something else in between: a new project starts on defaults
    assert bench.auto_render and win.transport.ab == "steered" and not win.transport.loop_enabled
    bench.open_project(path)
    wait_job(qtbot, bench, "load")
    assert bench.auto_render is False and not win.mixer.auto.isChecked()
    assert win.transport.loop_enabled and win.transport_bar.loop_action.isChecked()
    assert win.transport.loop_region == pytest.approx((0.1, 0.3))
    assert win.output.core.loop is not None
    assert win.transport.ab == "unsteered" and win.output.core.which == 0
    assert "unsteered" in win.transport_bar.ab_action.text()


def test_transport_prefs_round_trip_and_old_projects(tmp_path):
    from musae_core.workstation.project import Project
    from musae_core.workstation.transport import TransportPrefs

    prefs = TransportPrefs(ab="unsteered", loop=True, loop_region=(0.5, 1.5), auto_render=False)
    path = Project(model_id=None, transport=prefs).save(tmp_path / "a.musae.json")
    assert Project.load(path).transport == prefs
    data = json.loads(path.read_text())
    del data["transport"]  # a project saved before this field existed
    path.write_text(json.dumps(data))
    assert Project.load(path).transport == TransportPrefs()
    odd = TransportPrefs.from_dict({"ab": "left", "loop_region": [2.0, "x"], "loop": 1})
    assert odd == TransportPrefs(loop=True)
