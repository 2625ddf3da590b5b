"""MIDI learn in the window: right-click learn, fed messages move knobs, one undo per burst."""

from __future__ import annotations

import threading

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

import mido
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QContextMenuEvent
from PySide6.QtWidgets import QApplication
from test_app_flow import loaded, wait_job, window  # noqa: F401

from musae_core.workstation.midi_input import input_ports


def cc(control: int, value: int, channel: int = 0) -> mido.Message:
    return mido.Message("control_change", channel=channel, control=control, value=value)


def right_click_learn(midi, widget) -> None:
    """Right-click ``widget``, pick "MIDI learn" in the menu that pops up."""
    event = QContextMenuEvent(
        QContextMenuEvent.Mouse, QPoint(5, 5), widget.mapToGlobal(QPoint(5, 5))
    )
    QApplication.sendEvent(widget, event)
    assert midi.menu is not None
    actions = {a.text(): a for a in midi.menu.actions()}
    actions["MIDI learn"].trigger()
    midi.menu.close()


def test_learn_binds_the_next_message_and_moves_the_knob(window, qtbot):  # noqa: F811
    bench, midi = window.bench, window.midi
    bench.auto_render = False
    bench.add_feature(3, "drums 3")
    knob = window.mixer.strips[3].knob
    right_click_learn(midi, knob)
    assert midi.learning is not None and knob.midi_mark == "learn"
    midi.feed_mido(cc(74, 10), "ctl")  # the learned message binds, it does not move the knob
    assert midi.learning is None and bench.project.midi[0].target == "feature:3"
    assert knob.midi_mark == "mapped"
    assert bench.mixer.channel(3).strength == 0.0 and bench.dirty
    undo_before = len(bench.session.history._undo)
    for value in (64, 90, 127):  # one burst, as from turning a hardware knob
        midi.feed_mido(cc(74, value), "ctl")
    assert knob.value() == 4.0 and bench.mixer.channel(3).strength == 4.0
    midi.feed_mido(cc(75, 0), "ctl")  # an unmapped control changes nothing
    assert bench.mixer.channel(3).strength == 4.0
    qtbot.waitUntil(
        lambda: bench.session.history.undo_label() == "#3 strength (MIDI)", timeout=2000
    )
    assert len(bench.session.history._undo) == undo_before + 1  # the burst is one undo step
    bench.undo()
    assert bench.mixer.channel(3).strength == 0.0 and knob.value() == 0.0


def test_messages_from_another_thread_are_queued_to_the_ui(window, qtbot):  # noqa: F811
    bench, midi = window.bench, window.midi
    bench.auto_render = False
    bench.add_feature(5)
    right_click_learn(midi, window.mixer.strips[5].knob)
    midi.feed_mido(mido.Message("pitchwheel", channel=1, pitch=0), "ctl")
    low = mido.Message("pitchwheel", channel=1, pitch=-8192)
    thread = threading.Thread(target=midi.feed_mido, args=(low, "ctl"))
    thread.start()
    thread.join()
    assert bench.mixer.channel(5).strength == 0.0  # not applied on the rtmidi-like thread
    qtbot.waitUntil(lambda: bench.mixer.channel(5).strength == -4.0, timeout=2000)


def test_master_control_learn_esc_and_forget(window, qtbot):  # noqa: F811
    bench, midi = window.bench, window.midi
    spin = window.master.cfg
    right_click_learn(midi, spin)
    qtbot.keyClick(spin, Qt.Key_Escape)
    assert midi.learning is None and bench.project.midi == ()
    right_click_learn(midi, spin)
    midi.feed_mido(cc(1, 0, channel=3), "ctl")
    midi.feed_mido(cc(1, 127, channel=3), "ctl")
    assert bench.master.sampling.cfg_scale == spin.maximum() and spin.value() == spin.maximum()
    event = QContextMenuEvent(QContextMenuEvent.Mouse, QPoint(5, 5), spin.mapToGlobal(QPoint(5, 5)))
    QApplication.sendEvent(spin.lineEdit(), event)  # where a real right-click lands
    forget = next(a for a in midi.menu.actions() if a.text() == "Forget MIDI mapping")
    assert forget.isEnabled()
    forget.trigger()
    midi.menu.close()
    assert bench.project.midi == ()
    midi.feed_mido(cc(1, 0, channel=3), "ctl")
    assert bench.master.sampling.cfg_scale == spin.maximum()


def test_mapping_survives_save_and_reopen_and_shows_in_settings(window, qtbot, tmp_path):  # noqa: F811
    from app.midi_settings import MidiSettingsDialog

    bench, midi = window.bench, window.midi
    bench.new_project(None)
    bench.add_feature(7)
    right_click_learn(midi, window.mixer.strips[7].knob)
    midi.feed_mido(cc(20, 1), "ctl")
    path = tmp_path / "song.musae.json"
    bench.save_project(path)
    wait_job(qtbot, bench, "save")
    bench.new_project(None)
    assert bench.project.midi == ()
    bench.open_project(path)
    wait_job(qtbot, bench, "load")
    assert [m.target for m in bench.project.midi] == ["feature:7"]
    qtbot.waitUntil(lambda: window.mixer.strips[7].knob.midi_mark == "mapped", timeout=2000)
    bench.auto_render = False
    midi.feed_mido(cc(20, 127), "ctl")
    assert window.mixer.strips[7].knob.value() == 4.0
    dialog = MidiSettingsDialog(midi, window)
    assert dialog.table.rowCount() == 1 and "CC 20" in dialog.table.item(0, 0).text()
    _names, reason = input_ports()
    assert dialog.note.text() == (reason or "")  # says plainly why there are no ports
    dialog.table.cellWidget(0, 3).click()
    assert dialog.table.rowCount() == 0 and bench.project.midi == ()
    assert window.mixer.strips[7].knob.midi_mark == ""
    dialog.port.setCurrentIndex(0)
    dialog.apply()
    assert bench.settings.midi_input == ""


def test_right_click_elsewhere_keeps_its_own_menu(window):  # noqa: F811
    """The filter takes only this window's widgets with a MIDI target; a line edit keeps its
    own menu."""
    event = QContextMenuEvent(QContextMenuEvent.Mouse, QPoint(1, 1))
    assert window.midi.eventFilter(window.master.prompt, event) is False
    assert window.midi.menu is None
    from app.knob import Knob

    stray = Knob()  # another window's knob (the filter is app-wide): not this window's menu
    stray.setProperty("midi_target", "feature:1")
    assert window.midi.eventFilter(stray, event) is False and window.midi.menu is None
    window.bench.add_feature(2)
    window.docks["mixer"].setFloating(True)  # a floating dock still belongs to the window
    right_click_learn(window.midi, window.mixer.strips[2].knob)
    assert window.midi.learning[0] == "feature:2"


def test_midi_learn_on_the_shipped_demo(window, qtbot, tmp_path, monkeypatch):  # noqa: F811
    """The demo project: learn a labelled feature's knob, turn it, one render per burst."""
    import app.main as app_main
    from musae_core.demo.model_build import DEMO_MODEL_DIR

    if not (app_main.DEMO_DIR / "demo.musae.json").exists() or not DEMO_MODEL_DIR.exists():
        pytest.skip("the demo is not built into resources/demo")
    monkeypatch.setattr("musae_core.workstation.settings.data_dir", lambda: tmp_path / "data")
    app_main.open_from_args(window, app_main.build_parser().parse_args([]))
    bench, midi = window.bench, window.midi
    qtbot.waitUntil(lambda: bench.session.model is not None, timeout=120000)
    wait_job(qtbot, bench, "load")
    feature = bench.session.db.query(labelled_only=True, limit=1)[0].id
    bench.set_master(duration=0.5)
    bench.add_feature(feature)
    right_click_learn(midi, window.mixer.strips[feature].knob)
    midi.feed_mido(cc(21, 0), "ctl")
    renders = []
    bench.renderingChanged.connect(lambda on: on and renders.append(1))
    for value in (80, 100, 115):
        midi.feed_mido(cc(21, value), "ctl")
    assert window.mixer.strips[feature].knob.value() == round(-4 + 8 * 115 / 127, 4)
    errors = []
    bench.error.connect(lambda p, f: errors.append((p, f)))
    qtbot.waitUntil(lambda: bench.current_take is not None or bool(errors), timeout=120000)
    assert not errors and bench.current_take is not None, (
        errors,
        renders,
        bench.steering_unavailable(),
    )
    assert renders == [1]  # the burst rendered once, when it closed
    assert bench.current_take.mixer.channel(feature).strength == round(-4 + 8 * 115 / 127, 4)


def test_a_burst_renders_once_and_an_undone_burst_not_at_all(loaded, qtbot):  # noqa: F811
    bench, midi = loaded.bench, loaded.midi
    bench.add_feature(3)
    right_click_learn(midi, loaded.mixer.strips[3].knob)
    midi.feed_mido(cc(30, 64), "ctl")
    renders = []
    bench.renderingChanged.connect(lambda on: on and renders.append(bench.mixer))
    for value in (100, 127):
        midi.feed_mido(cc(30, value), "ctl")
    qtbot.waitUntil(lambda: bench.current_take is not None, timeout=120000)
    wait_job(qtbot, bench, "render")
    assert len(renders) == 1 and renders[0].channel(3).strength == 4.0
    midi.feed_mido(cc(30, 0), "ctl")
    bench.undo()  # mid-burst: the burst is undone, strength back to 4
    assert bench.mixer.channel(3).strength == 4.0
    qtbot.wait(2 * midi.GESTURE_MS)
    assert len(renders) == 1 and bench.mixer.channel(3).strength == 4.0
