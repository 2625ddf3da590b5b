"""Steering interventions change generation exactly where and how they should."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from musae_core.errors import MusaeError
from musae_core.models.base import CfgBranch, GenerationRequest
from musae_core.models.loading import load_model
from musae_core.models.residual import capture_residual
from musae_core.models.sampling import SamplingSettings
from musae_core.render import render
from musae_core.steering import AddDirection, ClampDirection, Envelope, RelativeAdd, steer

REQUEST = GenerationRequest(prompts=("warm strings",), duration=0.8, seed=11)


def _direction(model, seed=0):
    return torch.randn(model.d_model, generator=torch.Generator().manual_seed(seed))


def _no_hooks_left(model):
    return all(not layer._forward_hooks for layer in model.hf.decoder.model.decoder.layers)


def test_strength_zero_is_bit_identical_to_plain(tiny_model):
    plain = tiny_model.generate(REQUEST)
    zeros = [
        AddDirection(layer=1, direction=_direction(tiny_model), alpha=0.0, beta=5.0),
        RelativeAdd(layer=2, direction=_direction(tiny_model, 1), alpha=0.0),
    ]
    with steer(tiny_model, zeros):
        assert not _no_hooks_left(tiny_model)  # the hooks really are installed
        steered = tiny_model.generate(REQUEST)
    assert np.array_equal(plain.audio, steered.audio)
    assert np.array_equal(plain.codes, steered.codes)
    assert _no_hooks_left(tiny_model)


def test_add_changes_audio_and_hooks_are_removed(tiny_model):
    plain = tiny_model.generate(REQUEST)
    iv = AddDirection(layer=2, direction=_direction(tiny_model), alpha=1.0, beta=20.0)
    take = render(tiny_model, REQUEST, [iv])
    assert not np.array_equal(plain.codes, take.codes)
    assert take.steering[0]["kind"] == "AddDirection" and take.steering[0]["beta"] == 20.0
    assert _no_hooks_left(tiny_model)


def test_hooks_removed_after_exception(tiny_model):
    iv = AddDirection(layer=0, direction=_direction(tiny_model), alpha=1.0)
    with pytest.raises(RuntimeError), steer(tiny_model, [iv]):
        raise RuntimeError("boom")
    assert _no_hooks_left(tiny_model)


def _captured_after(model, interventions, codes):
    with steer(model, interventions), capture_residual(model, [2]) as rec:
        model.teacher_force(codes)
    return rec.activations(2, n_frames=codes.shape[-1])[0]


@pytest.fixture(scope="module")
def codes(tiny_model):
    return torch.from_numpy(tiny_model.generate(REQUEST).codes)


def test_add_shifts_residual_by_exact_vector(tiny_model, codes):
    d = _direction(tiny_model)
    base = _captured_after(tiny_model, [], codes)
    moved = _captured_after(
        tiny_model, [AddDirection(layer=2, direction=d, alpha=0.5, beta=4)], codes
    )
    assert torch.allclose(moved - base, (2.0 * d).expand_as(base), atol=1e-5)


def test_relative_add_scales_with_norm(tiny_model, codes):
    d = _direction(tiny_model)
    base = _captured_after(tiny_model, [], codes)
    moved = _captured_after(tiny_model, [RelativeAdd(layer=2, direction=d, alpha=0.3)], codes)
    expected = 0.3 * base.norm(dim=-1, keepdim=True) * d / d.norm()
    assert torch.allclose(moved - base, expected, atol=1e-4)


def test_clamp_sets_coefficient(tiny_model, codes):
    d = _direction(tiny_model)
    moved = _captured_after(tiny_model, [ClampDirection(layer=2, direction=d, value=7.0)], codes)
    coefficient = moved @ (d / d.norm())
    assert torch.allclose(coefficient, torch.full_like(coefficient, 7.0), atol=1e-4)


def test_envelope_applies_strength_over_time(tiny_model, codes):
    d = _direction(tiny_model)
    env = Envelope(((0.0, 0.0), (0.2, 0.0), (0.4, 1.0)))
    iv = AddDirection(layer=2, direction=d, alpha=1.0, beta=3.0, envelope=env)
    base = _captured_after(tiny_model, [], codes)
    moved = _captured_after(tiny_model, [iv], codes)
    shift = (moved - base) @ (d / d.norm()) / (3.0 * d.norm())
    times = tiny_model.frame_times(codes.shape[-1])
    expected = np.interp(times, [0, 0.2, 0.4], [0, 0, 1])
    assert np.allclose(shift.numpy(), expected, atol=1e-4)


def test_several_directions_compose(tiny_model, codes):
    d1, d2 = _direction(tiny_model, 1), _direction(tiny_model, 2)
    base = _captured_after(tiny_model, [], codes)
    both = _captured_after(
        tiny_model,
        [
            AddDirection(layer=2, direction=d1, alpha=1.0),
            AddDirection(layer=2, direction=d2, alpha=-2.0),
        ],
        codes,
    )
    assert torch.allclose(both - base, (d1 - 2 * d2).expand_as(base), atol=1e-5)


def test_cfg_branch_choice(tiny_model):
    """Steering only the unconditional half changes a CFG take but not a CFG-free one."""
    d = _direction(tiny_model)
    req_cfg = GenerationRequest(
        prompts=("x",), duration=0.5, seed=4, sampling=SamplingSettings(cfg_scale=3.0)
    )
    req_nocfg = GenerationRequest(
        prompts=("x",), duration=0.5, seed=4, sampling=SamplingSettings(cfg_scale=1.0)
    )
    iv = AddDirection(layer=1, direction=d, alpha=30.0, branch=CfgBranch.UNCONDITIONAL)
    assert not np.array_equal(
        render(tiny_model, req_cfg, [iv]).codes, tiny_model.generate(req_cfg).codes
    )
    assert np.array_equal(
        render(tiny_model, req_nocfg, [iv]).codes, tiny_model.generate(req_nocfg).codes
    )
    cond = AddDirection(layer=1, direction=d, alpha=30.0, branch=CfgBranch.CONDITIONAL)
    assert not np.array_equal(
        render(tiny_model, req_nocfg, [cond]).codes, tiny_model.generate(req_nocfg).codes
    )


@pytest.mark.parametrize("model_id", ["tiny", "tiny-melody"])
def test_capture_during_generation_maps_positions_to_frames(model_id):
    model = load_model(model_id, device="cpu", dtype="fp32")
    d = _direction(model)
    steering = [AddDirection(layer=1, direction=d, alpha=1.0, beta=2.0)]
    with steer(model, steering), capture_residual(model, [0, 3]) as rec:
        take = model.generate(REQUEST)
    n_frames = take.codes.shape[-1]
    acts = rec.activations(3, n_frames=n_frames)
    assert acts.shape == (1, n_frames, model.d_model)
    # teacher forcing the generated codes reproduces the generation-time residual stream
    # (melody: the conditioning prefix is neither captured nor steered)
    with steer(model, steering), capture_residual(model, [3]) as tf:
        model.teacher_force(torch.from_numpy(take.codes), texts=list(REQUEST.prompts))
    assert torch.allclose(tf.activations(3, n_frames=n_frames), acts, atol=1e-4)


@pytest.mark.parametrize(
    "vector, match",
    [(np.ones(3), "dimensions"), (np.full(64, np.nan), "NaN"), (np.ones((2, 64)), "1-D")],
)
def test_bad_vectors_are_rejected(tiny_model, vector, match):
    with (
        pytest.raises(MusaeError, match=match),
        steer(tiny_model, [AddDirection(layer=0, direction=vector)]),
    ):
        pass


def test_bad_envelope_rejected():
    with pytest.raises(MusaeError, match="increasing"):
        Envelope(((1.0, 1.0), (0.5, 0.0)))
