"""One SamplingSettings: validated, held by every generation path, read from old files as-is."""

from __future__ import annotations

import json

import pytest

from musae_core.errors import MusaeError
from musae_core.harvest.config import GenerationSettings
from musae_core.labeling.steering_eval import SteeringSettings
from musae_core.models.base import GenerationRequest
from musae_core.models.sampling import SamplingSettings, build_warpers
from musae_core.punch.sidecar import recipe_from_sidecar
from musae_core.workstation import MasterSettings, Project
from musae_core.workstation.midi_map import MidiMapping, master_target
from musae_core.workstation.project import FORMAT

# what `musae generate` wrote into a take sidecar's "request" before SamplingSettings existed
OLD_SIDECAR_REQUEST = {
    "prompts": ["calm"],
    "duration": 1.0,
    "seed": 3,
    "temperature": 0.7,
    "top_k": 50,
    "top_p": 0.9,
    "cfg_scale": 2.0,
    "variants": 1,
}
# the master section of a project saved before it could hold top_p
OLD_MASTER = {
    "prompt": "warm pad",
    "duration": 2.0,
    "seed": 4,
    "seed_locked": False,
    "temperature": 0.5,
    "top_k": 40,
    "cfg_scale": 4.0,
    "steer_branch": "conditional",
}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("temperature", -0.1),
        ("temperature", float("nan")),
        ("top_k", -1),
        ("top_k", 2.5),
        ("top_k", True),
        ("top_p", 1.5),
        ("top_p", -0.01),
        ("cfg_scale", -1.0),
        ("cfg_scale", float("inf")),
        ("temperature", "hot"),
    ],
)
def test_bad_values_are_refused_naming_the_field_and_range(name, value):
    with pytest.raises(MusaeError, match=f"Sampling setting {name} must be") as err:
        SamplingSettings(**{name: value})
    assert err.value.fix  # and what to use instead


def test_numbers_from_json_are_normalised():
    s = SamplingSettings(temperature=1, top_k=50, top_p=1, cfg_scale=3)
    assert isinstance(s.temperature, float) and isinstance(s.top_p, float)
    assert s == SamplingSettings(temperature=1.0, top_k=50, top_p=1.0, cfg_scale=3.0)


def test_dict_round_trip_ignores_other_keys_and_defaults_missing_ones():
    s = SamplingSettings(temperature=0.8, top_k=10, top_p=0.95, cfg_scale=1.0)
    assert SamplingSettings.from_dict({**s.to_dict(), "prompt": "x"}) == s
    assert SamplingSettings.from_dict({"top_k": 7}) == SamplingSettings(top_k=7)


def test_greedy_and_guidance_follow_the_settings():
    assert SamplingSettings(temperature=0).greedy and len(build_warpers(SamplingSettings(0))) == 0
    assert len(build_warpers(SamplingSettings(temperature=0.5, top_k=5, top_p=0.5))) == 3
    assert SamplingSettings(cfg_scale=3.0).uses_cfg and not SamplingSettings(cfg_scale=1.0).uses_cfg


def test_every_settings_record_holds_the_one_class():
    s = SamplingSettings(top_p=0.9)
    for record in (
        GenerationRequest(sampling=s),
        MasterSettings(sampling=s),
        GenerationSettings(sampling=s),
        SteeringSettings(sampling=s),
    ):
        assert record.sampling is s


def test_master_section_sets_top_p_and_passes_it_to_the_render():
    """The defect: the master section had no top_p, so the app could not set it."""
    master = MasterSettings().replace(top_p=0.9, seed=5)
    assert master.sampling.top_p == 0.9 and master.seed == 5
    assert master.request().sampling == master.sampling
    assert MasterSettings.from_dict(master.to_dict()) == master
    with pytest.raises(MusaeError, match="top_p"):
        master.replace(top_p=2.0)
    mapping = MidiMapping("cc", 0, 1, master_target("top_p"), 0.0, 1.0)  # MIDI-learnable too
    assert mapping.master == "top_p"


def test_requests_and_master_keep_the_flat_json_keys():
    request = GenerationRequest(prompts=("a",), sampling=SamplingSettings(top_k=3))
    assert set(request.to_dict()) == set(OLD_SIDECAR_REQUEST)
    assert GenerationRequest.from_dict(json.loads(json.dumps(request.to_dict()))) == request
    assert set(MasterSettings().to_dict()) == set(OLD_MASTER) | {"top_p"}


def test_an_old_sidecar_still_loads():
    recipe = recipe_from_sidecar({"model_id": "tiny", "request": OLD_SIDECAR_REQUEST})
    assert recipe.request.prompts == ("calm",) and recipe.request.seed == 3
    assert recipe.request.sampling == SamplingSettings(0.7, 50, 0.9, 2.0)
    bare = {k: v for k, v in OLD_SIDECAR_REQUEST.items() if k not in ("top_p", "cfg_scale")}
    loaded = recipe_from_sidecar({"model_id": "tiny", "request": bare}).request
    assert loaded.sampling == SamplingSettings(temperature=0.7, top_k=50)


def _write_project(path, master: dict, takes: list | None = None):
    data = {
        "format": FORMAT,
        "version": 1,
        "model_id": "tiny",
        "mixer": {"channels": []},
        "master": master,
        "takes": takes or [],
    }
    path.write_text(json.dumps(data))
    return path


def test_an_old_project_without_top_p_still_loads(tmp_path):
    take = {
        "take_id": 1,
        "master": OLD_MASTER,
        "mixer": {"channels": []},
        "sample_rate": 32000,
        "frame_rate": 50.0,
    }
    project = Project.load(_write_project(tmp_path / "old.musae.json", OLD_MASTER, [take]))
    expected = SamplingSettings(temperature=0.5, top_k=40, top_p=0.0, cfg_scale=4.0)
    assert project.master.sampling == expected and project.master.prompt == "warm pad"
    assert project.master.steer_branch == "conditional" and not project.master.seed_locked
    assert project.takes[0].master.sampling == expected
    project.master = project.master.replace(top_p=0.8)
    again = Project.load(project.save(tmp_path / "new.musae.json"))
    assert again.master.sampling.top_p == 0.8


@pytest.mark.parametrize(
    ("value", "problem"),
    [("0.9", "must be a number"), (1.5, "Sampling setting top_p must be a number from 0 to 1")],
)
def test_a_bad_top_p_in_a_project_names_the_file_and_field(tmp_path, value, problem):
    path = _write_project(tmp_path / "bad.musae.json", {**OLD_MASTER, "top_p": value})
    with pytest.raises(MusaeError, match=problem) as err:
        Project.load(path)
    assert "bad.musae.json" in str(err.value) and '"master' in str(err.value)
