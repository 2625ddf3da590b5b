"""pytest-qt drives the real window offscreen: browse, mix, render, A/B, export, undo, projects."""

from __future__ import annotations

import gc

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

import soundfile as sf
from PySide6.QtCore import QPointF, QSettings, Qt

from musae_core.workstation import MasterSettings, Settings

TIMEOUT = 30000


@pytest.fixture
def window(qtbot, tmp_path):
    from app.main import gui_thread_gc
    from app.theme import apply_dark_theme
    from app.window import MainWindow

    apply_dark_theme(qtbot_app())
    collector = gui_thread_gc(0.2)  # as in the app: GC never runs on a worker thread
    qs = QSettings(str(tmp_path / "layout.ini"), QSettings.IniFormat)
    win = MainWindow(Settings(autosave_seconds=0), qs, tmp_path / "settings.json")
    win.unsaved_prompt = lambda *_args: "discard"  # closing at teardown asks nobody
    qtbot.addWidget(win)
    win.show()
    yield win
    win.bench.jobs.cancel_all()
    win.bench.jobs.wait(10000)
    collector.timer.stop()
    gc.collect()
    gc.enable()


def qtbot_app():
    from PySide6.QtWidgets import QApplication

    return QApplication.instance()


def wait_job(qtbot, bench, kind: str) -> None:
    qtbot.waitUntil(lambda: bench.jobs.current(kind) is None, timeout=TIMEOUT)
    qtbot.wait(20)  # let queued result signals arrive


@pytest.fixture
def loaded(window, qtbot, tiny_model, tiny_sae_dir, feature_db_path):
    """A window with the tiny model, the test SAE and the feature DB, short renders."""
    bench = window.bench
    bench.session.model = tiny_model  # the session-scoped model: avoids a 3 s reload per test
    bench.set_master(duration=0.5, seed=7, prompt="simple melody")
    bench.open_sae(tiny_sae_dir)
    wait_job(qtbot, bench, "sae")
    bench.open_feature_db(feature_db_path)
    qtbot.waitUntil(lambda: window.browser.model.rowCount() == 48, timeout=TIMEOUT)
    return window


def drag_knob(qtbot, knob, dy: int, modifier=Qt.NoModifier) -> None:
    centre = knob.rect().center()
    qtbot.mousePress(knob, Qt.LeftButton, pos=centre)
    for step in range(1, 6):
        pos = QPointF(centre.x(), centre.y() - dy * step / 5)
        from PySide6.QtGui import QMouseEvent

        event = QMouseEvent(
            QMouseEvent.MouseMove, pos, knob.mapToGlobal(pos), Qt.NoButton, Qt.LeftButton, modifier
        )
        knob.mouseMoveEvent(event)
    qtbot.mouseRelease(knob, Qt.LeftButton, pos=centre)


def test_search_filters_and_inspector(loaded, qtbot):
    browser = loaded.browser
    assert browser.proxy.rowCount() == 47  # the dead feature is hidden by default
    qtbot.keyClicks(browser.search, "piano")
    assert 0 < browser.proxy.rowCount() < 47
    browser.search.clear()
    qtbot.keyClicks(browser.search, "jazzy")  # only in a description: found by the DB search
    qtbot.waitUntil(lambda: browser.proxy.rowCount() == 1, timeout=TIMEOUT)
    assert browser.row_at(0).id == 5
    browser.table.selectRow(0)
    qtbot.waitUntil(lambda: loaded.inspector.record is not None, timeout=TIMEOUT)
    assert loaded.inspector.labels.rowCount() == 2
    assert len(loaded.inspector.clip_widgets) == 3
    assert loaded.inspector.clip_widgets[0].play.isEnabled()
    loaded.inspector.neighbours.itemClicked.emit(loaded.inspector.neighbours.item(0))
    qtbot.waitUntil(lambda: loaded.inspector.record.id == 6, timeout=TIMEOUT)
    browser.checks["favourites_only"].setChecked(True)
    browser.search.clear()
    assert [browser.row_at(r).id for r in range(browser.proxy.rowCount())] == [4]


def test_mixer_knob_render_ab_export_undo(loaded, qtbot, tmp_path):
    bench = loaded.bench
    bench.auto_render = False
    bench.select_feature(5)
    qtbot.mouseClick(loaded.mixer.add_button, Qt.LeftButton)
    assert bench.mixer.features() == [5]
    strip = loaded.mixer.strips[5]
    drag_knob(qtbot, strip.knob, 60)
    strength = bench.mixer.channel(5).strength
    assert strength > 1.0 and strip.knob.value() == strength
    drag_knob(qtbot, strip.knob, 60, Qt.ShiftModifier)
    assert 0 < bench.mixer.channel(5).strength - strength < 0.5  # Shift = fine
    bench.undo()
    assert bench.mixer.channel(5).strength == strength  # one gesture, one undo step
    with qtbot.waitSignal(bench.currentTakeChanged, timeout=TIMEOUT):
        loaded.transport_bar.render_action.trigger()
    take = bench.current_take
    assert take.loaded and not np.array_equal(take.steered, take.unsteered)
    qtbot.waitUntil(lambda: loaded.arrangement._shown == (take.take_id, "steered"), timeout=TIMEOUT)
    assert len(loaded.arrangement.lane_items) == 1
    # A/B at the same position, loudness-matched gains
    loaded.transport_bar.play_action.trigger()
    assert loaded.output.playing
    qtbot.wait(150)
    loaded.transport_bar.ab_action.trigger()
    assert loaded.transport.ab == "unsteered" and loaded.output.core.which == 0
    assert loaded.output.core.gains == take.gains
    loaded.transport_bar.play_action.trigger()
    assert not loaded.output.playing
    out = tmp_path / "export.wav"
    bench.export(out, "steered")
    wait_job(qtbot, bench, "export")
    data, rate = sf.read(out)
    assert rate == take.sample_rate and data.shape[0] == take.steered.shape[-1]
    assert out.with_suffix(".json").is_file()
    strip.knob.mouseDoubleClickEvent(None)
    assert bench.mixer.channel(5).strength == 0.0
    bench.undo()
    assert bench.mixer.channel(5).strength == strength
    qtbot.mouseClick(strip.remove, Qt.LeftButton)
    assert bench.mixer.features() == []
    bench.undo()
    assert bench.mixer.features() == [5] and 5 in loaded.mixer.strips


def test_new_render_cancels_the_running_one(loaded, qtbot):
    bench = loaded.bench
    bench.set_master(duration=2.0)
    first = bench.render()
    second = bench.render()
    assert first.token.cancelled
    qtbot.waitUntil(lambda: second.state == "done", timeout=TIMEOUT)
    qtbot.wait(20)
    assert first.state == "cancelled"
    assert bench.current_take is bench.session.takes[-1]
    bench.set_master(duration=10.0, seed=99)  # long and uncached: still running when cancelled
    third = bench.render()
    assert loaded.transport_bar.cancel_action.isEnabled()
    assert loaded.transport_bar.cancel_action.shortcut().toString() == "Esc"
    loaded.transport_bar.cancel_action.trigger()
    qtbot.waitUntil(lambda: third.state in ("cancelled", "done"), timeout=TIMEOUT)
    qtbot.wait(20)
    assert third.state == "cancelled" and len(bench.session.takes) == 1
    assert not loaded.transport_bar.cancel_action.isEnabled()


def test_save_and_reopen_project(loaded, qtbot, tmp_path, tiny_model):
    bench = loaded.bench
    bench.add_feature(3, "drums 3")
    bench.update_channel(3, strength=1.5)
    bench.set_master(seed=11)
    with qtbot.waitSignal(bench.currentTakeChanged, timeout=TIMEOUT):
        bench.render()
    path = tmp_path / "proj" / "song.musae.json"
    path.parent.mkdir()
    bench.save_project(path)
    wait_job(qtbot, bench, "save")
    assert path.is_file() and not bench.dirty
    bench.new_project(None)
    assert bench.mixer.features() == []
    bench.open_project(path)
    wait_job(qtbot, bench, "load")
    assert bench.mixer.channel(3).strength == 1.5 and bench.master.seed == 11
    assert bench.current_take is not None and bench.current_take.loaded
    assert loaded.browser.model.rowCount() == 48
    assert bench.steering_unavailable() is None


def test_offline_feature_db(window, qtbot, feature_db_path):
    from app.main import build_parser, open_from_args

    open_from_args(window, build_parser().parse_args(["--feature-db", str(feature_db_path)]))
    qtbot.waitUntil(lambda: window.browser.model.rowCount() == 48, timeout=TIMEOUT)
    assert window.bench.session.model is None
    assert not window.mixer.add_button.isEnabled() and "Offline" in window.mixer.note.text()
    assert not window.transport_bar.render_action.isEnabled()
    window.bench.select_feature(4)
    qtbot.waitUntil(lambda: window.inspector.record is not None, timeout=TIMEOUT)
    view = window.inspector.clip_widgets[0].view
    window.inspector.play_clip(view)  # cached snippet plays (silently without a device)
    assert window.output.playing and window.transport.source == "clip"
    window.output.stop()
    assert not window.inspector.add.isEnabled()


def test_master_settings_and_errors_keep_the_app_running(window, qtbot):
    bench = window.bench
    bench.set_master(duration=-1.0)  # invalid: shown as a dialog, state unchanged
    assert bench.master.duration == MasterSettings().duration
    bench.render()  # no model: an error dialog, not a crash
    from PySide6.QtWidgets import QMessageBox

    dialogs = [d for d in window.findChildren(QMessageBox) if d.objectName() == "errorDialog"]
    assert len(dialogs) == 2 and "no model" in dialogs[-1].text()
    assert window.isVisible()


def test_master_panel_sets_top_p(window, qtbot):
    """The master section had no top-p: the panel's field now reaches the render request."""
    bench, panel = window.bench, window.master
    panel.top_p.setValue(0.9)
    panel.top_p.editingFinished.emit()
    assert bench.master.sampling.top_p == 0.9 and bench.master.request().sampling.top_p == 0.9
    assert bench.dirty and panel.top_p.property("midi_target") == "master:top_p"
    bench.set_master(top_p=0.0, temperature=0.5)  # e.g. undo or a MIDI knob: the panel follows
    assert panel.top_p.value() == 0.0 and panel.temperature.value() == 0.5


def test_enter_in_a_master_field_hands_the_keyboard_back(loaded, qtbot):
    """After typing a duration and Enter, the shortcuts (Space, L, B) went to the field."""
    import warnings

    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    window, panel = loaded, loaded.master
    with warnings.catch_warnings():  # offscreen windows only become active this way
        warnings.simplefilter("ignore", DeprecationWarning)
        QApplication.setActiveWindow(window)
    panel.duration.setFocus()
    qtbot.waitUntil(panel.duration.hasFocus, timeout=TIMEOUT)
    panel.duration.lineEdit().selectAll()
    QTest.keyClicks(panel.duration.lineEdit(), "3")
    QTest.keyClick(panel.duration, Qt.Key_Return)
    assert window.bench.master.duration == 3.0
    assert not panel.duration.hasFocus()  # the window's shortcuts get the next key


@pytest.mark.slow
def test_no_arguments_opens_the_shipped_demo(window, qtbot, tmp_path, monkeypatch):
    """`musae-app` alone: the user's copy of resources/demo opens with the demo model, its SAE
    and its labelled features; a top clip (Opus, shipped) plays."""
    import app.main as app_main
    from musae_core.demo.model_build import DEMO_MODEL_DIR

    if not (app_main.DEMO_DIR / "demo.musae.json").exists() or not DEMO_MODEL_DIR.exists():
        pytest.skip("the demo is not built into resources/demo")
    monkeypatch.setattr("musae_core.workstation.settings.data_dir", lambda: tmp_path / "data")
    app_main.open_from_args(window, app_main.build_parser().parse_args([]))
    bench = window.bench
    qtbot.waitUntil(lambda: bench.session.model is not None, timeout=120000)
    wait_job(qtbot, bench, "load")
    qtbot.waitUntil(lambda: window.browser.model.rowCount() > 1000, timeout=TIMEOUT)
    assert bench.session.model.model_id == "demo" and bench.session.sae is not None
    assert bench.session.project.path.parent.parent == tmp_path / "data" / "demo"
    labelled = bench.session.db.query(labelled_only=True, limit=5)
    assert labelled and labelled[0].best_label
    bench.select_feature(labelled[0].id)
    qtbot.waitUntil(lambda: window.inspector.record is not None, timeout=TIMEOUT)
    view = window.inspector.clip_widgets[0].view
    window.inspector.play_clip(view)
    assert window.output.playing and window.transport.source == "clip"
    window.output.stop()
