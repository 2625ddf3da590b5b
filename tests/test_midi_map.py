"""MIDI learn, engine side: mappings as project data, value scaling, the port layer."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import mido
import pytest

from musae_core.errors import MusaeError
from musae_core.workstation import Project
from musae_core.workstation.midi_input import MidiInputs, input_ports
from musae_core.workstation.midi_map import (
    MidiMapping,
    bind,
    event_from_mido,
    feature_target,
    forget,
    master_target,
)

DEMO_PROJECT = Path(__file__).resolve().parents[1] / "resources" / "demo" / "demo.musae.json"


def cc(number: int, value: int, channel: int = 0):
    return event_from_mido(
        mido.Message("control_change", channel=channel, control=number, value=value), "ctl"
    )


def test_cc_and_pitch_bend_map_linearly_onto_the_knob_range():
    knob = MidiMapping.learn(cc(74, 0), feature_target(3), -4.0, 4.0)
    assert knob.value(0) == -4.0 and knob.value(127) == 4.0
    assert abs(knob.value(64)) < 8 / 127  # CC 64: mid-range, within one CC step of 0
    assert knob.value(-5) == -4.0 and knob.value(300) == 4.0  # out of range: clamped
    bend = event_from_mido(mido.Message("pitchwheel", channel=2, pitch=-8192), "ctl")
    cfg = MidiMapping.learn(bend, master_target("cfg_scale"), 0.0, 15.0)
    assert (cfg.kind, cfg.channel) == ("pitchbend", 2)
    assert cfg.value(-8192) == 0.0 and cfg.value(8191) == 15.0
    assert abs(cfg.value(0) - 7.5) < 0.001


def test_matching_binding_and_forgetting():
    a = MidiMapping.learn(cc(74, 1), feature_target(3), -4.0, 4.0)
    assert a.matches(cc(74, 99)) and not a.matches(cc(75, 99)) and not a.matches(cc(74, 9, 1))
    assert not a.matches(event_from_mido(mido.Message("control_change", control=74), "other"))
    assert dataclasses.replace(a, port="").matches(
        event_from_mido(mido.Message("control_change", control=74), "other")
    )
    b = MidiMapping.learn(cc(75, 1), feature_target(3), -4.0, 4.0)  # relearn: replaces a
    c = MidiMapping.learn(cc(75, 1), feature_target(5), -4.0, 4.0)  # same control: replaces b
    assert bind((a,), b) == (b,) and bind((b,), c) == (c,)
    assert forget((a, c), feature_target(3)) == (c,)
    assert event_from_mido(mido.Message("clock")) is None


def test_mappings_round_trip_through_the_project_file(tmp_path):
    mappings = (
        MidiMapping.learn(cc(74, 1), feature_target(3), -4.0, 4.0),
        MidiMapping("pitchbend", 0, 0, master_target("temperature"), 0.0, 3.0),
    )
    path = Project(model_id="tiny", midi=mappings).save(tmp_path / "song.musae.json")
    data = json.loads(path.read_text())
    assert data["midi"]["version"] == 1 and len(data["midi"]["mappings"]) == 2
    assert Project.load(path).midi == mappings


def test_projects_saved_before_midi_learn_still_open(tmp_path):
    shutil.copy(DEMO_PROJECT, tmp_path / "demo.musae.json")  # the shipped demo: no midi section
    assert "midi" not in json.loads(DEMO_PROJECT.read_text())
    project = Project.load(tmp_path / "demo.musae.json")
    assert project.midi == () and project.model_id == "demo"


def test_a_broken_mapping_names_the_field_and_the_fix(tmp_path):
    path = Project().save(tmp_path / "p.musae.json")
    data = json.loads(path.read_text())
    data["midi"]["mappings"] = [{"kind": "cc", "target": "feature:1"}]
    path.write_text(json.dumps(data))
    with pytest.raises(MusaeError, match="MIDI mapping") as info:
        Project.load(path)
    assert "midi section" in info.value.fix
    with pytest.raises(MusaeError, match="master:NAME"):
        MidiMapping("cc", 0, 1, "master:prompt", 0, 1)


def test_without_ports_the_reason_is_plain_words():
    names, reason = input_ports()
    if names:
        pytest.skip(f"this machine has MIDI inputs: {names}")
    assert reason and "Traceback" not in reason
    inputs = MidiInputs(lambda event: None)
    assert inputs.open() == reason and inputs.ports == []


def test_virtual_port_delivers_messages_to_the_handler():
    """Through the OS: a virtual output port (ALSA / CoreMIDI) into ``MidiInputs``."""
    try:
        out = mido.open_output("musae-test", virtual=True)
    except Exception as exc:  # no rtmidi, or no ALSA sequencer (/dev/snd/seq) here
        pytest.skip(f"no virtual MIDI ports on this system: {exc}")
    import threading

    got, arrived = [], threading.Event()
    inputs = MidiInputs(lambda event: (got.append(event), arrived.set()))
    try:
        names, _reason = input_ports()
        name = next(n for n in names if "musae-test" in n)
        assert inputs.open(name) is None
        out.send(mido.Message("control_change", channel=1, control=20, value=64))
        assert arrived.wait(5.0)
        assert (got[0].kind, got[0].channel, got[0].number, got[0].value) == ("cc", 1, 20, 64)
    finally:
        inputs.close()
        out.close()


def test_the_chosen_input_port_is_saved_in_the_settings(tmp_path):
    from musae_core.workstation import Settings

    path = Settings(midi_input="Launch Control XL").save(tmp_path / "settings.json")
    assert Settings.load(path).midi_input == "Launch Control XL"
    assert Settings().midi_input == ""  # default: every input port
