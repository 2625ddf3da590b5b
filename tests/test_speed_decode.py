"""The fast decode path (static KV cache, optional per-layer compile) against the eager loop."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from musae_core.models.base import GenerationRequest
from musae_core.models.loading import load_model
from musae_core.models.residual import capture_residual
from musae_core.models.sampling import SamplingSettings
from musae_core.models.static_cache import (
    EAGER,
    DecodeOptions,
    LayerCompiler,
    bucket,
    decode_options,
)
from musae_core.render import render
from musae_core.steering import AddDirection

STATIC = DecodeOptions(static_cache=True)


@pytest.fixture(scope="module", params=["tiny", "tiny-stereo", "tiny-melody"])
def model(request):
    return load_model(request.param, device="cpu", dtype="fp32")


def _take(model, options, request, interventions=()):
    previous, model.decode_options = model.decode_options, options
    try:
        return render(model, request, interventions)
    finally:
        model.decode_options = previous


def _direction(model, seed=0):
    return torch.randn(model.d_model, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("temperature", [1.0, 0.0])
def test_static_cache_gives_the_eager_tokens(model, temperature):
    request = GenerationRequest(
        prompts=("pad",), duration=1.0, seed=5, sampling=SamplingSettings(temperature=temperature)
    )
    eager = _take(model, EAGER, request)
    fast = _take(model, STATIC, request)
    assert np.array_equal(eager.codes, fast.codes)
    assert np.array_equal(eager.audio, fast.audio)  # same codes, same codec: same bits


def test_static_cache_with_steering_matches_eager_and_hooks_fire_every_step(model):
    request = GenerationRequest(prompts=("drums",), duration=0.6, seed=2, variants=2)
    steering = [
        AddDirection(layer=1, direction=_direction(model, 0), alpha=2.0, beta=1.0),
        AddDirection(layer=2, direction=_direction(model, 1), alpha=-1.5),
    ]
    eager = _take(model, EAGER, request, steering)
    previous, model.decode_options = model.decode_options, STATIC
    try:
        with capture_residual(model, [3]) as rec:
            fast = render(model, request, steering)
    finally:
        model.decode_options = previous
    assert np.array_equal(eager.codes, fast.codes)
    assert not np.array_equal(fast.codes, _take(model, STATIC, request).codes)  # steering acted
    n_frames = fast.codes.shape[-1]
    steps = n_frames + max(model.delays)
    audio_chunks = [pos for pos, _ in rec.chunks[3]]
    assert sum(len(p) for p in audio_chunks) == steps  # one call per decoding step
    assert rec.activations(3).shape == (2, steps, model.d_model)


def test_strength_zero_is_bit_identical_on_the_fast_path(model):
    request = GenerationRequest(prompts=("strings",), duration=0.6, seed=9)
    zero = [AddDirection(layer=0, direction=_direction(model), alpha=0.0, beta=0.0)]
    plain = _take(model, STATIC, request)
    steered = _take(model, STATIC, request, zero)
    assert np.array_equal(plain.codes, steered.codes)
    assert np.array_equal(plain.audio, steered.audio)


def test_default_options_and_switches(monkeypatch):
    monkeypatch.delenv("MUSAE_FAST_DECODE", raising=False)
    monkeypatch.delenv("MUSAE_COMPILE", raising=False)
    assert decode_options(torch.device("cpu")) == EAGER  # measured not to pay off on the CPU
    assert decode_options(torch.device("cuda")).static_cache
    assert not decode_options(torch.device("cuda")).compile
    monkeypatch.setenv("MUSAE_FAST_DECODE", "0")
    assert decode_options(torch.device("cuda")) == EAGER
    monkeypatch.setenv("MUSAE_FAST_DECODE", "1")
    assert decode_options(torch.device("cpu")).name == "static"
    monkeypatch.setenv("MUSAE_COMPILE", "1")
    assert decode_options(torch.device("cpu")).name == "static+compile"
    monkeypatch.setenv("MUSAE_FAST_DECODE", "0")
    assert decode_options(torch.device("cpu")) == EAGER  # compile needs the static cache


def test_bucket_rounds_up():
    assert [bucket(n, 256) for n in (1, 256, 257, 504)] == [256, 256, 512, 512]


def test_layer_compiler_swaps_forwards_in_and_out(tiny_model):
    layers = tiny_model.hf.decoder.model.decoder.layers
    compiler = LayerCompiler(layers, torch.device("cpu"), None)  # compiles lazily, on first call
    assert compiler.mode is None and not compiler.cuda_graphs
    with compiler.active():
        assert all("forward" in layer.__dict__ for layer in layers)
    assert all("forward" not in layer.__dict__ for layer in layers)
    with pytest.raises(RuntimeError), compiler.active():
        raise RuntimeError("boom")
    assert all("forward" not in layer.__dict__ for layer in layers)


@pytest.mark.skipif(
    os.environ.get("MUSAE_TEST_COMPILE") != "1",
    reason="torch.compile takes minutes on a small CPU; set MUSAE_TEST_COMPILE=1 (GPU runs do)",
)
def test_compiled_layers_keep_tokens_and_steering(tiny_model):
    request = GenerationRequest(prompts=("bass",), duration=0.3, seed=3)
    steering = [AddDirection(layer=1, direction=_direction(tiny_model), alpha=3.0)]
    compiled = DecodeOptions(static_cache=True, compile=True)
    for ivs in ([], steering):
        eager = _take(tiny_model, EAGER, request, ivs)
        fast = _take(tiny_model, compiled, request, ivs)
        assert np.array_equal(eager.codes, fast.codes)
    layers = tiny_model.hf.decoder.model.decoder.layers
    assert all("forward" not in layer.__dict__ for layer in layers)  # eager again afterwards


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_fast_paths_give_the_eager_tokens():
    model = load_model("tiny", device="cuda", dtype="fp32")
    assert model.decode_options is None and decode_options(model.device).static_cache
    request = GenerationRequest(prompts=("organ",), duration=1.0, seed=11)
    steering = [AddDirection(layer=2, direction=_direction(model), alpha=2.0)]
    paths = [STATIC]
    if os.environ.get("MUSAE_TEST_COMPILE") == "1":
        paths.append(DecodeOptions(static_cache=True, compile=True))
    for ivs in ([], steering):
        eager = _take(model, EAGER, request, ivs)
        for options in paths:
            assert np.array_equal(eager.codes, _take(model, options, request, ivs).codes)
