"""Projects that travel: Save As writes a self-contained folder (takes, sidecars, lanes, and the
SAE/DB copied or referenced), and a moved folder reopens; bad project files name file + field."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from musae_core.errors import MusaeError
from musae_core.workstation import MasterSettings, MixerState, Project, Session

MASTER = MasterSettings(prompt="simple melody", duration=0.5, seed=3)


@pytest.fixture
def rendered(tiny_model, tiny_sae_dir, tmp_path):
    """A session with a private copy of the SAE (so a test may delete it) and one take."""
    sae = tmp_path / "shared" / "sae"
    shutil.copytree(tiny_sae_dir, sae)
    session = Session(project=Project(model_id="tiny", master=MASTER))
    session.model = tiny_model
    session.load_sae(sae)
    session.render(MASTER, MixerState().add(4, "drums").update(4, strength=2.0))
    return session


def test_save_as_moves_takes_in_and_a_moved_folder_reopens(rendered, tmp_path):
    take = rendered.takes[0]
    rendered.save_project(tmp_path / "first" / "song.musae.json")  # e.g. the app's data folder
    rendered.save_project(tmp_path / "mine" / "copy.musae.json")  # Save As elsewhere
    shutil.rmtree(tmp_path / "first")
    takes = sorted(p.name for p in (tmp_path / "mine" / "copy_takes").iterdir())
    assert takes == [
        "take-1-lanes.npz",
        "take-1-steered.json",
        "take-1-steered.wav",
        "take-1-unsteered.json",
        "take-1-unsteered.wav",
    ]
    data = json.loads((tmp_path / "mine" / "copy.musae.json").read_text())
    assert data["takes"][0]["files"]["steered"] == "copy_takes/take-1-steered.wav"
    assert data["sae_path"] == str((tmp_path / "shared" / "sae").resolve())  # outside: absolute
    shutil.move(tmp_path / "mine", tmp_path / "moved")
    reopened = Session.from_project_file(tmp_path / "moved" / "copy.musae.json")
    reopened.project.model_id = None  # audio and lanes need no model
    warnings = reopened.open_resources()  # the fixture DB predates SAE identities: only that
    assert [w for w in warnings if "records no SAE identity" not in w] == []  # is noted
    again = reopened.takes[0]
    np.testing.assert_allclose(again.steered, take.steered, atol=1e-4)
    assert set(again.activations) == {4} and again.activations[4].max() > 0
    np.testing.assert_array_equal(again.activations[4], take.activations[4])
    np.testing.assert_array_equal(again.unsteered_activations[4], take.unsteered_activations[4])
    assert reopened.sae is not None  # the referenced SAE still resolves after the move


def test_save_as_can_copy_the_sae_and_database_in(rendered, tmp_path, feature_db_path):
    db = tmp_path / "shared" / "features.db"
    shutil.copy2(feature_db_path, db)
    (tmp_path / "shared" / "features.snippets").mkdir()
    (tmp_path / "shared" / "features.snippets" / "4-0.flac").write_bytes(b"clip")
    rendered.open_feature_db(db)
    saved = rendered.save_project(tmp_path / "mine" / "song.musae.json", copy_resources=True)
    rendered.close()
    data = json.loads(saved.read_text())
    assert data["sae_path"] == "song_resources/sae"
    assert data["feature_db_path"] == "song_resources/features.db"
    shutil.rmtree(tmp_path / "shared")  # the originals are gone: only the copies remain
    shutil.move(tmp_path / "mine", tmp_path / "zipped-and-back")
    reopened = Session.from_project_file(tmp_path / "zipped-and-back" / "song.musae.json")
    reopened.project.model_id = None
    warnings = reopened.open_resources()  # the fixture DB predates SAE identities: only that
    assert [w for w in warnings if "records no SAE identity" not in w] == []  # is noted
    assert reopened.sae is not None and reopened.db.feature_count() == 48
    assert (
        tmp_path / "zipped-and-back" / "song_resources" / "features.snippets" / "4-0.flac"
    ).is_file()


def _bad_project(tmp_path, text: str):
    path = tmp_path / "song.musae.json"
    path.write_text(text)
    with pytest.raises(MusaeError) as info:
        Project.load(path)
    return info.value


def _valid(tmp_path) -> dict:
    Project(model_id="tiny", mixer=MixerState().add(3)).save(tmp_path / "ok.musae.json")
    return json.loads((tmp_path / "ok.musae.json").read_text())


def test_truncated_project_says_it_is_cut_off_and_what_to_do(tmp_path):
    text = json.dumps(_valid(tmp_path))
    error = _bad_project(tmp_path, text[:65])
    assert "song.musae.json" in error.problem and "cut off" in error.problem
    assert "pick a .musae.json" not in error.fix and "earlier copy" in error.fix


@pytest.mark.parametrize(
    ("where", "edit"),
    [
        ("master.seed", lambda d: d["master"].update(seed="abc")),
        ("mixer.channels[0].feature", lambda d: d["mixer"]["channels"][0].update(feature="abc")),
        ("mixer.channels[0].strength", lambda d: d["mixer"]["channels"][0].update(strength=[1])),
        ("model_id", lambda d: d.update(model_id=3)),
    ],
)
def test_a_field_of_the_wrong_type_names_file_and_field(tmp_path, where, edit):
    data = _valid(tmp_path)
    edit(data)
    error = _bad_project(tmp_path, json.dumps(data))
    assert "song.musae.json" in error.problem and f'"{where}"' in error.problem
    assert "File > Open project" in error.fix


def test_a_text_file_as_feature_database_gets_an_app_fix(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("just some text\n" * 50)
    with pytest.raises(MusaeError) as info:
        Session(project=Project(model_id=None)).open_feature_db(path)
    assert "notes.db" in info.value.problem
    assert "`" not in info.value.fix and "musae analyze" not in info.value.fix
    assert "File > Open feature database" in info.value.fix


def test_a_take_with_an_empty_file_entry_survives_a_save_and_reopen(tmp_path):
    """An empty path ("" = no file) used to be read back as None and saved as null, so the
    project opened once and then refused to open ("must be text")."""
    take = {
        "take_id": 1,
        "master": {},
        "mixer": {"channels": []},
        "sample_rate": 32000,
        "frame_rate": 50.0,
        "files": {"steered": "", "unsteered": "take-1.wav"},
    }
    path = tmp_path / "p.musae.json"
    path.write_text(json.dumps({"format": "musae-project", "version": 1, "takes": [take]}))
    project = Project.load(path)
    assert project.takes[0].files == {"unsteered": str(tmp_path / "take-1.wav")}
    project.save(path)
    again = Project.load(path)
    assert again.takes[0].files == {"unsteered": str(tmp_path / "take-1.wav")}
