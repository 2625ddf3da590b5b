"""The headless workstation: mixer + undo, project files, renders with A/B, export, settings."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from musae_core.errors import Cancelled, MusaeError
from musae_core.jobs import CancelToken
from musae_core.workstation import (
    History,
    MasterSettings,
    MixerState,
    Project,
    Session,
    Settings,
    matched_gains,
    spectrogram,
    waveform_peaks,
)

MASTER = MasterSettings(prompt="simple melody", duration=0.5, seed=3)


@pytest.fixture
def session(tiny_model, tiny_sae_dir):
    s = Session(project=Project(model_id="tiny", master=MASTER))
    s.model = tiny_model
    s.load_sae(tiny_sae_dir)
    return s


def test_mixer_edits_and_solo_logic():
    mixer = MixerState().add(3, "piano").add(5).add(3)
    assert mixer.features() == [3, 5]
    mixer = mixer.update(3, strength=0.5, solo=True)
    assert [c.feature for c in mixer.audible()] == [3]
    mixer = mixer.update(3, mute=True)
    assert mixer.audible() == []
    assert MixerState.from_dict(json.loads(json.dumps(mixer.to_dict()))) == mixer
    with pytest.raises(MusaeError):
        mixer.update(3, mode="multiply")
    assert mixer.remove(3).features() == [5]


def test_history_records_one_step_per_gesture():
    history = History(MixerState().add(1))
    history.begin()
    for value in np.linspace(0, 1, 50):
        history.preview(history.state.update(1, strength=float(value)))
    history.commit("knob")
    assert history.state.channel(1).strength == 1.0
    assert history.undo() and history.state.channel(1).strength == 0.0
    assert not history.can_undo
    assert history.redo() and history.state.channel(1).strength == 1.0


def test_loudness_matching_never_boosts():
    quiet, loud = np.full(100, 0.1, np.float32), np.full(100, 0.4, np.float32)
    ga, gb = matched_gains(quiet, loud)
    assert ga == 1.0 and gb == pytest.approx(0.25)


def test_spectrogram_and_peaks_shapes():
    audio = np.sin(np.linspace(0, 2000, 16000)).astype(np.float32)
    spec = spectrogram(audio, 16000, n_bins=32)
    assert spec.db.shape[1] == 32 and spec.db.max() == pytest.approx(0.0)
    times, lo, hi = waveform_peaks(audio, 16000, buckets=100)
    assert len(times) <= 100 and (lo <= hi).all()


def test_render_ab_same_seed_and_lanes(session):
    mixer = MixerState().add(4).update(4, strength=2.0)
    take = session.render(MASTER, mixer)
    assert take.steered.shape == take.unsteered.shape
    assert not np.array_equal(take.steered, take.unsteered)  # steering changed the take
    assert set(take.activations) == {4} and take.activations[4].ndim == 1
    flat = session.render(MASTER, mixer.update(4, strength=0.0))
    np.testing.assert_array_equal(flat.steered, take.unsteered)  # same seed, same base take
    assert [t.take_id for t in session.takes] == [1, 2]


def test_render_cancel_raises_cancelled(session):
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        session.render(MASTER, MixerState(), cancel=token)


def test_export_and_project_round_trip(session, tmp_path, tiny_sae_dir):
    session.history.apply(session.mixer.add(7).update(7, strength=1.5), "add")
    take = session.render(MASTER)
    wav, meta = session.export(take, tmp_path / "out.wav")
    data, rate = sf.read(wav)
    assert rate == take.sample_rate and len(data) == take.steered.shape[-1]
    assert json.loads(meta.read_text())["mixer"]["channels"][0]["feature"] == 7
    saved = session.save_project(tmp_path / "proj" / "song.musae.json")
    data = json.loads(saved.read_text())
    assert data["sae_path"] == str(tiny_sae_dir.resolve())  # outside the folder: absolute
    assert data["takes"][0]["files"]["steered"] == "song_takes/take-1-steered.wav"  # inside
    reopened = Session.from_project_file(saved)
    assert reopened.project.mixer == session.mixer
    assert reopened.project.sae_path == str(tiny_sae_dir.resolve())
    reopened.project.model_id = None  # audio only: no model needed to recall takes
    reopened.project.sae_path = None
    assert reopened.open_resources() == []
    np.testing.assert_allclose(reopened.takes[0].steered, take.steered, atol=1e-4)


def test_offline_session_explains_why_steering_is_off():
    session = Session(project=Project(model_id=None))
    assert "Offline" in session.steering_unavailable()
    with pytest.raises(MusaeError):
        session.render(MASTER)


def test_settings_round_trip_never_stores_keys(tmp_path):
    path = tmp_path / "settings.json"
    settings = Settings(device="cpu", llm_endpoint="http://localhost:8000/v1")
    settings.add_recent(tmp_path / "a.musae.json")
    settings.save(path)
    data = json.loads(path.read_text())
    data["api_key"] = "secret"
    path.write_text(json.dumps(data))
    loaded = Settings.load(path)
    assert loaded.device == "cpu" and loaded.recent_projects == settings.recent_projects
    assert not hasattr(loaded, "api_key")
    path.write_text("{broken")
    assert Settings.load(path) == Settings()


def test_feature_details_from_a_real_db(feature_db_path):
    from musae_core.features import FeatureDB
    from musae_core.workstation import feature_details

    db = FeatureDB.open(feature_db_path, readonly=True)
    details = feature_details(db, 5)
    assert {lab.source for lab in details.labels} == {"descriptor", "llm"}
    assert len(details.clips) == 3 and all(c.playable for c in details.clips)
    assert details.clips[0].spectrogram.db.shape[1] == 64
    assert [n for n, _, _ in details.neighbours] == [6, 7]
    session = Session(project=Project(model_id=None))
    session.open_feature_db(feature_db_path)
    assert session.db.feature_count() == 48
    session.close()


def test_envelope_point_edits_keep_time_order():
    from musae_core.workstation.mixer import add_point, default_envelope, move_point, remove_point

    points = default_envelope(2.0)
    assert points == ((0.0, 1.0), (2.0, 1.0))
    points, index = add_point(points, 1.0, 1.7)
    assert index == 1 and points[1] == (1.0, 1.0)  # gain clipped to 0..1
    assert move_point(points, 1, 5.0, -1.0)[1] == (2.0, 0.0)  # time held between neighbours
    assert remove_point(points, 0) == ((1.0, 1.0), (2.0, 1.0))
