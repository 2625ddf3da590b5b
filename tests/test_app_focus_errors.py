"""Errors and focus in the real window (offscreen): modal dialogs take the keyboard, Ctrl+Q
works right after Save As, bad files are explained by file + field + an in-app fix, and the
transport is disabled with nothing to play."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMessageBox
from test_app_flow import TIMEOUT, loaded, wait_job, window  # noqa: F401


def _errors(win) -> list[QMessageBox]:
    return [d for d in win.findChildren(QMessageBox) if d.objectName() == "errorDialog"]


@pytest.fixture
def with_take(loaded, qtbot):  # noqa: F811
    bench = loaded.bench
    bench.auto_render = False
    bench.add_feature(5)
    bench.update_channel(5, strength=2.0)
    with qtbot.waitSignal(bench.currentTakeChanged, timeout=TIMEOUT):
        bench.render()
    return loaded


def test_letters_typed_into_an_error_dialog_never_reach_the_shortcuts(with_take, qtbot):
    win = with_take
    from app.errors import show_error

    box = show_error(win, "Something went wrong.", "try again.")
    assert QApplication.activeModalWidget() is box
    win.activateWindow()  # even if the window manager leaves the main window focused
    for key in (Qt.Key_L, Qt.Key_B, Qt.Key_Space):
        QTest.keyClick(box, key)
        QTest.keyClick(win, key)
    assert not win.transport.loop_enabled  # L did not switch the loop on
    assert win.transport.ab == "steered"  # B did not flip A/B
    assert not win.output.playing
    box.close()
    qtbot.waitUntil(lambda: QApplication.activeModalWidget() is None, timeout=TIMEOUT)
    win.activateWindow()
    QTest.keyClick(win, Qt.Key_L)  # with the dialog gone the shortcut works again
    assert win.transport.loop_enabled


def test_ctrl_q_quits_right_after_the_save_as_dialog_closed(with_take, qtbot, tmp_path):
    win = with_take
    target = tmp_path / "saved" / "song.musae.json"
    target.parent.mkdir()

    def answer() -> None:  # what a user does: type a name, keep "copy" off, press Save
        dialog = QApplication.activeModalWidget()
        dialog.selectFile(str(target))
        dialog.accept()

    QTimer.singleShot(200, answer)
    win.save_as()
    wait_job(qtbot, win.bench, "save")
    assert target.is_file() and (tmp_path / "saved" / "song_takes").is_dir()
    QTest.keyClick(win, Qt.Key_Q, Qt.ControlModifier)
    qtbot.waitUntil(lambda: not win.isVisible(), timeout=TIMEOUT)


def test_save_as_dialog_can_copy_the_sae_and_database_in(with_take, qtbot, tmp_path):
    win = with_take
    target = tmp_path / "shared-project" / "song.musae.json"
    target.parent.mkdir()

    def answer() -> None:
        dialog = QApplication.activeModalWidget()
        if hasattr(dialog, "copy"):  # (without the option the test fails below, never hangs)
            dialog.copy.setChecked(True)
        dialog.selectFile(str(target))
        dialog.accept()

    QTimer.singleShot(200, answer)
    win.save_as()
    wait_job(qtbot, win.bench, "save")
    data = json.loads(target.read_text())
    assert data["sae_path"].startswith("song_resources/")
    assert data["feature_db_path"] == "song_resources/features.db"
    assert (target.parent / "song_resources" / "features.db").is_file()


def test_a_truncated_project_is_explained_in_app_terms(window, qtbot, tmp_path):  # noqa: F811
    path = tmp_path / "song.musae.json"
    path.write_text('{"format": "musae-project", "version": 1, "model_id": "tiny", "mas')
    window.bench.open_project(path)
    box = _errors(window)[-1]
    assert "song.musae.json" in box.text() and "cut off" in box.text()
    assert "pick a .musae.json" not in box.informativeText()


def test_a_wrong_field_type_names_the_file_and_field(window, qtbot, tmp_path):  # noqa: F811
    from musae_core.workstation import MixerState, Project

    path = Project(model_id=None, mixer=MixerState().add(3)).save(tmp_path / "song.musae.json")
    data = json.loads(path.read_text())
    data["mixer"]["channels"][0]["feature"] = "abc"
    path.write_text(json.dumps(data))
    window.bench.open_project(path)
    text = _errors(window)[-1].text()
    assert "song.musae.json" in text and '"mixer.channels[0].feature"' in text


def test_a_text_file_opened_as_feature_database(window, qtbot, tmp_path):  # noqa: F811
    path = tmp_path / "notes.db"
    path.write_text("not a database\n" * 100)
    window.bench.open_feature_db(path, offline=True)
    qtbot.waitUntil(lambda: bool(_errors(window)), timeout=TIMEOUT)
    box = _errors(window)[-1]
    assert "notes.db" in box.text()
    assert "musae analyze" not in box.informativeText() and "`" not in box.informativeText()


def test_offline_inspection_has_no_transport_to_press(window, qtbot, feature_db_path):  # noqa: F811
    window.bench.open_feature_db(feature_db_path, offline=True)
    qtbot.waitUntil(lambda: window.browser.model.rowCount() == 48, timeout=TIMEOUT)
    bar = window.transport_bar
    assert not bar.play_action.isEnabled()
    assert not bar.loop_action.isEnabled() and not bar.ab_action.isEnabled()
    QTest.keyClick(window, Qt.Key_L)
    assert not window.transport.loop_enabled
