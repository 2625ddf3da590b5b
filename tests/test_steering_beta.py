"""One beta for every steering path, recorded in the sidecar; strengths that cannot blow up."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from musae_core import render as render_module
from musae_core.cli import main
from musae_core.errors import MusaeError
from musae_core.features import FeatureDB
from musae_core.models.sampling import NonFiniteLogits, SamplingSettings, choose_tokens
from musae_core.sae import load_sae, save_sae
from musae_core.sae.steering import BETA_DEFAULT, BETA_FROM_DB, BETA_FROM_SAE, feature_beta
from musae_core.workstation.master import MasterSettings
from musae_core.workstation.mixer import MixerState
from musae_core.workstation.session import Session

FEATURE, ALPHA = 5, 1.5
GENERATE = ["generate", "--model", "tiny", "--device", "cpu", "--duration", "0.5"]


def _spy_render(monkeypatch, captured: list) -> None:
    """Record the interventions every engine render receives (the CLI and eval-steering)."""
    real = render_module.render

    def spy(model, request, interventions=(), progress=None, cancel=None):
        if interventions:
            captured.append(list(interventions))
        return real(model, request, interventions, progress, cancel)

    monkeypatch.setattr(render_module, "render", spy)


@pytest.fixture
def db_copy(feature_db_path, tmp_path):
    """The shared fixture DB, copied: eval-steering writes its verdicts into it."""
    return shutil.copy(feature_db_path, tmp_path / "features.db")


def test_same_knob_value_gives_the_same_residual_shift_in_app_cli_and_eval_steering(
    tiny_model, tiny_sae_dir, db_copy, tmp_path, monkeypatch
):
    # the fixture DB disagrees on purpose: max_activation 1 + id, top-clip peaks 2.0, while the
    # SAE's feature_stats say 1 + 7 * id / 47; before one beta, each path took another of them
    captured: list = []
    _spy_render(monkeypatch, captured)
    cli_args = [
        *GENERATE,
        "--sae",
        str(tiny_sae_dir),
        "--features",
        str(db_copy),
        "--steer",
        f"{FEATURE}={ALPHA}",
        "--out",
        str(tmp_path / "take.wav"),
    ]
    assert main(cli_args) == 0
    eval_args = [
        "eval-steering",
        "--model",
        "tiny",
        "--device",
        "cpu",
        "--sae",
        str(tiny_sae_dir),
        "--db",
        str(db_copy),
        "--features",
        str(FEATURE),
        "--n",
        "2",
        "--duration",
        "0.5",
        "--no-clap",
        "--alpha",
        str(ALPHA),
    ]
    assert main(eval_args) == 0
    cli_iv, eval_iv = captured[0][0], captured[-1][0]
    sae = load_sae(tiny_sae_dir)
    with FeatureDB.open(db_copy, readonly=True) as db:
        session = Session(model=tiny_model, sae=sae, db=db)
        mixer = MixerState().add(FEATURE, strength=ALPHA)
        app_iv = session.interventions(mixer, MasterSettings())[0]
        hidden = torch.randn(1, 3, tiny_model.d_model)
        shifts = {
            name: torch.broadcast_to(iv.delta(hidden), hidden.shape)
            for name, iv in {"app": app_iv, "cli": cli_iv, "eval-steering": eval_iv}.items()
        }
        verdict = db.steering(FEATURE)
    expected = ALPHA * float(sae.max_activation[FEATURE]) * sae.W_dec[FEATURE].detach()
    for name, shift in shifts.items():
        assert torch.allclose(shift, expected.expand_as(hidden), atol=1e-6), name
    assert float(sae.max_activation[FEATURE]) == pytest.approx(1 + 7 * FEATURE / 47, rel=1e-5)
    sidecar = json.loads((tmp_path / "take.json").read_text())["steering"][0]
    assert sidecar["beta"] == pytest.approx(1 + 7 * FEATURE / 47, rel=1e-5)
    assert sidecar["beta_source"] == BETA_FROM_SAE
    assert verdict.evidence["beta_source"] == BETA_FROM_SAE  # what the browser's verdict used


def test_app_take_sidecar_records_beta_and_its_source(tiny_model, tiny_sae_dir):
    session = Session(model=tiny_model, sae=load_sae(tiny_sae_dir))
    mixer = MixerState().add(FEATURE, strength=ALPHA)
    take = session.render(
        MasterSettings(duration=0.3, sampling=SamplingSettings(cfg_scale=1.0)), mixer
    )
    recipe = take.metadata["steering"][0]
    assert recipe["alpha"] == ALPHA and recipe["beta_source"] == BETA_FROM_SAE
    assert recipe["beta"] == pytest.approx(1 + 7 * FEATURE / 47, rel=1e-5)


def test_beta_falls_back_to_the_database_then_to_one(tiny_sae_dir, feature_db_path):
    sae = load_sae(tiny_sae_dir)
    with torch.no_grad():
        sae.max_activation[FEATURE] = 0.0  # e.g. a SAELens SAE: no max activation recorded
    with FeatureDB.open(feature_db_path, readonly=True) as db:
        from_db = feature_beta(sae, FEATURE, db)
    assert (from_db.value, from_db.source) == (1.0 + FEATURE, BETA_FROM_DB)
    assert feature_beta(sae, FEATURE) == type(from_db)(1.0, BETA_DEFAULT)
    assert feature_beta(sae, FEATURE + 1).source == BETA_FROM_SAE


def test_huge_feature_strength_is_refused_up_front(tiny_sae_dir, tmp_path, capsys):
    out = tmp_path / "take.wav"
    code = main([*GENERATE, "--sae", str(tiny_sae_dir), "--steer", "5=1e30", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "feature 5" in err and "1e+30" in err and "Traceback" not in err
    assert not out.exists()


def test_blown_up_generation_names_the_steering_not_a_traceback(tmp_path, capsys):
    vector = tmp_path / "v.npy"
    np.save(vector, np.random.default_rng(0).normal(size=64).astype(np.float32))
    out = tmp_path / "take.wav"
    code = main([*GENERATE, "--steer", f"{vector}:2:1e30", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "inf/NaN" in err and "strength 1e+30" in err
    assert not out.exists()


def test_app_render_with_a_blown_up_beta_is_a_clear_error(tiny_model, tiny_sae_dir, tmp_path):
    sae = load_sae(tiny_sae_dir)
    with torch.no_grad():
        sae.max_activation[FEATURE] = 1e30  # a damaged feature_stats file
    session = Session(model=tiny_model, sae=load_sae(save_sae(sae, tmp_path / "sae")))
    mixer = MixerState().add(FEATURE, strength=1.0)
    with pytest.raises(MusaeError, match=f"feature {FEATURE} at strength 1"):
        session.render(
            MasterSettings(duration=0.3, sampling=SamplingSettings(cfg_scale=1.0)), mixer
        )
    assert session.takes == []


def test_non_finite_logits_raise_but_masked_ones_sample():
    logits = torch.zeros(1, 2, 8)
    logits[0, 1, 3] = float("nan")
    with pytest.raises(NonFiniteLogits):
        choose_tokens(logits, [], greedy=True)
    masked = torch.zeros(1, 2, 8)
    masked[..., :4] = -float("inf")  # a legitimate mask
    assert (choose_tokens(masked, [], greedy=True) >= 4).all()
