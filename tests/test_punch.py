"""Punch-in: keep a take before a point (same tokens, same samples), steer after it, and
render it again bit for bit from its recipe (engine and ``musae generate --continue``)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from musae_core.cli import main
from musae_core.errors import MusaeError
from musae_core.models.base import GenerationRequest
from musae_core.models.residual import capture_residual
from musae_core.punch import Recipe, Segment, punch_in, render_recipe
from musae_core.render import render
from musae_core.steering import AddDirection

REQUEST = GenerationRequest(prompts=("calm",), duration=1.0, seed=3)


@pytest.fixture(scope="module")
def parent(tiny_model):
    return render(tiny_model, REQUEST), Recipe(REQUEST, [Segment(0, [])])


def _push(alpha: float = 25.0) -> AddDirection:
    direction = torch.from_numpy(np.random.default_rng(0).normal(size=64).astype(np.float32))
    return AddDirection(layer=2, direction=direction, alpha=alpha)


def test_punch_keeps_tokens_and_samples_before_the_point(tiny_model, parent):
    take, recipe = parent
    punched, punched_recipe = punch_in(tiny_model, take, recipe, 0.5, [_push()])
    frame = punched_recipe.punch_frame
    sample = round(frame * tiny_model.sample_rate / tiny_model.frame_rate)
    assert frame == 25
    assert np.array_equal(punched.codes[..., :frame], take.codes[..., :frame])
    assert np.array_equal(punched.audio[..., :sample], take.audio[..., :sample])
    changed = (punched.codes[..., frame:] != take.codes[..., frame:]).mean()
    assert changed > 0.05  # the steering reaches the continuation
    tail = slice(sample + 500, None)
    assert not np.array_equal(punched.audio[..., tail], take.audio[..., tail])


def test_unchanged_steering_reproduces_the_parent_bit_for_bit(tiny_model, parent):
    take, recipe = parent
    same, _ = punch_in(tiny_model, take, recipe, 0.5, [])
    assert np.array_equal(same.codes, take.codes) and np.array_equal(same.audio, take.audio)


def test_steering_acts_only_from_the_point_on(tiny_model, parent):
    take, recipe = parent
    runs = []
    for alpha in (0.0, 25.0):
        with capture_residual(tiny_model, [3]) as rec:
            punch_in(tiny_model, take, recipe, 0.5, [_push(alpha)])
        runs.append(rec.activations(3, 50)[0])
    gap = (runs[1] - runs[0]).norm(dim=-1)
    assert gap[:25].max() == 0 and gap[25:].min() > 0


def test_recipe_renders_again_bit_for_bit_with_nested_punches(tiny_model, parent):
    take, recipe = parent
    first, first_recipe = punch_in(tiny_model, take, recipe, 0.4, [_push()])
    second, second_recipe = punch_in(tiny_model, first, first_recipe, 0.7, [_push(-10.0)])
    again = render_recipe(tiny_model, second_recipe)
    assert np.array_equal(again.codes, second.codes) and np.array_equal(again.audio, second.audio)
    assert [s.start_frame for s in second_recipe.segments] == [0, 20, 35]


@pytest.mark.parametrize("seconds", [0.0, 1.0, -2.0])
def test_punch_outside_the_take_is_a_clear_error(tiny_model, parent, seconds):
    take, recipe = parent
    with pytest.raises(MusaeError, match="outside the take"):
        punch_in(tiny_model, take, recipe, seconds, [])


def _cli(*args):
    return main(["generate", "--device", "cpu", *args])


@pytest.mark.slow
def test_cli_continue_punches_in_and_renders_again(tmp_path):
    vector = tmp_path / "v.npy"
    np.save(vector, np.random.default_rng(0).normal(size=64).astype(np.float32))
    base, punched, again = tmp_path / "a.wav", tmp_path / "b.wav", tmp_path / "c.wav"
    assert (
        _cli(
            "--model",
            "tiny",
            "--prompt",
            "calm",
            "--duration",
            "1",
            "--seed",
            "2",
            "--out",
            str(base),
        )
        == 0
    )
    assert (
        _cli(
            "--continue",
            str(base.with_suffix(".json")),
            "--from",
            "0.5",
            "--steer",
            f"{vector}:2:25",
            "--out",
            str(punched),
        )
        == 0
    )
    assert _cli("--continue", str(punched.with_suffix(".json")), "--out", str(again)) == 0
    a, b, c = (sf.read(p, dtype="int16")[0] for p in (base, punched, again))
    assert np.array_equal(a[:16_000], b[:16_000]) and not np.array_equal(a[17_000:], b[17_000:])
    assert np.array_equal(b, c)
    recipe = json.loads(punched.with_suffix(".json").read_text())["recipe"]
    assert recipe["punch_seconds"] == 0.5
    assert [s["from_seconds"] for s in recipe["segments"]] == [0.0, 0.5]
    assert recipe["segments"][1]["steering"][0]["alpha"] == 25.0


def test_cli_from_without_continue_is_a_clear_error(tmp_path, capsys):
    assert _cli("--from", "0.5", "--out", str(tmp_path / "x.wav")) == 2
    assert "--continue" in capsys.readouterr().err


def test_live_change_lands_at_a_chunk_boundary_and_renders_again(tiny_model):
    from musae_core.punch.live import LiveStream

    request = GenerationRequest(prompts=("calm",), duration=1.5, seed=4)
    reference = list(LiveStream(tiny_model, request).chunks())[-1].take
    live = LiveStream(tiny_model, request)
    boundaries = []
    for chunk in live.chunks():
        if not boundaries:
            live.change([_push()])  # the knob moves while the first chunk plays
        boundaries.append(chunk.start_frame + chunk.n_frames)
        final = chunk
    (landing,) = live.landings
    frame, lag = landing.segment.start_frame, max(tiny_model.delays)
    assert landing.latency is not None and landing.boundary_at >= landing.requested_at
    assert np.array_equal(final.take.codes[..., : frame - lag], reference.codes[..., : frame - lag])
    assert (final.take.codes[..., frame:] != reference.codes[..., frame:]).mean() > 0.05
    again = render_recipe(tiny_model, live.recipe())
    assert np.array_equal(again.codes, final.take.codes)


@pytest.mark.slow
def test_cli_punch_in_on_the_shipped_demo(tmp_path):
    from pathlib import Path

    demo = Path(__file__).resolve().parents[1] / "resources" / "demo"
    if not (demo / "model" / "model.safetensors").is_file():
        pytest.skip("resources/demo is not built")
    base, punched = tmp_path / "demo.wav", tmp_path / "punched.wav"
    assert (
        _cli(
            "--model",
            "demo",
            "--prompt",
            "medium loud major piano melody",
            "--duration",
            "1",
            "--seed",
            "1",
            "--out",
            str(base),
        )
        == 0
    )
    assert (
        _cli(
            "--continue",
            str(base.with_suffix(".json")),
            "--from",
            "0.5",
            "--sae",
            str(demo / "sae"),
            "--steer",
            "1641=-1.5",
            "--out",
            str(punched),
        )
        == 0
    )
    (a, rate), (b, _) = sf.read(base, dtype="int16"), sf.read(punched, dtype="int16")
    cut = rate // 2
    assert np.array_equal(a[:cut], b[:cut])
    assert np.abs(a[cut + 500 :].astype(float) - b[cut + 500 :]).mean() > 50  # audible change
    again = tmp_path / "again.wav"  # the SAE-feature steering is rebuilt from the sidecar
    assert _cli("--continue", str(punched.with_suffix(".json")), "--out", str(again)) == 0
    assert np.array_equal(sf.read(again, dtype="int16")[0], b)


def test_cli_continue_names_a_missing_sidecar(tmp_path, capsys):
    missing = tmp_path / "nope.json"
    assert _cli("--continue", str(missing), "--from", "1", "--out", str(tmp_path / "x.wav")) == 2
    err = capsys.readouterr().err
    assert "nope.json" in err and "Traceback" not in err
