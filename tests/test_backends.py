"""One behavioural suite for every ``MusicModel`` backend (transformers tiny, audiocraft debug).

The audiocraft half skips where audiocraft 1.3.0 is not importable
(``scripts/install_audiocraft.sh`` makes a venv that has it).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from musae_core.errors import Cancelled
from musae_core.jobs import CancelToken
from musae_core.models.audiocraft_backend import audiocraft_available
from musae_core.models.base import CfgBranch, GenerationRequest
from musae_core.models.residual import capture_residual
from musae_core.steering import AddDirection, steer

BACKENDS = ["transformers", "audiocraft"]


@pytest.fixture(scope="module", params=BACKENDS)
def model(request, tiny_model):
    if request.param == "transformers":
        return tiny_model
    if not audiocraft_available():
        pytest.skip("audiocraft 1.3.0 is not importable (run scripts/install_audiocraft.sh)")
    from musae_core.models.loading import load_model

    return load_model("tiny-audiocraft", device="cpu", dtype="fp32")


def _request(model, **kw) -> GenerationRequest:
    kw.setdefault("duration", 8 / model.frame_rate)  # 8 frames whatever the frame rate
    return GenerationRequest(**{"prompts": ("warm pad",), "seed": 5, **kw})


def _no_hooks(model) -> bool:
    return all(not model.residual_module(i)._forward_hooks for i in range(model.num_layers))


def test_hook_points_and_shape(model):
    assert model.hook_points() == [f"blocks.{i}.hook_resid_post" for i in range(model.num_layers)]
    modules = {id(model.residual_module(i)) for i in range(model.num_layers)}
    assert len(modules) == model.num_layers
    assert model.d_model > 0 and model.sample_rate > 0 and model.frame_rate > 0
    np.testing.assert_allclose(model.frame_times(3), np.arange(3) / model.frame_rate)


def test_teacher_forcing_shapes(model):
    codes = torch.randint(0, model.codebook_size, (2, model.num_codebooks, 6))
    with capture_residual(model, [0, model.num_layers - 1]) as rec:
        out = model.teacher_force(codes, ["a", "b"])
    assert out.loss.shape == (2,) and torch.isfinite(out.loss).all() and out.n_frames == 6
    steps = 6 + max(model.delays)
    assert rec.activations(0).shape == (2, steps, model.d_model)
    assert rec.activations(model.num_layers - 1, 6).shape == (2, 6, model.d_model)
    assert _no_hooks(model)


def test_capture_during_generation_maps_positions_to_frames(model):
    request = _request(model, variants=2)
    with capture_residual(model, [1]) as rec:
        take = model.generate(request)
    n_frames = take.codes.shape[-1]
    assert n_frames == 8
    assert take.audio.shape == (
        2,
        model.audio_channels,
        round(8 * model.sample_rate / model.frame_rate),
    )
    acts = rec.activations(1, n_frames)
    assert acts.shape == (2, n_frames, model.d_model)  # conditional CFG rows only
    positions = torch.cat([p for p, _ in rec.chunks[1]])
    assert positions.tolist() == list(range(n_frames + max(model.delays)))


def test_steering_zero_is_bit_identical_nonzero_differs_and_branch_choice(model):
    from musae_core.models.residual import residual_hooks

    request = _request(model)
    seen = []

    def spy(hidden, ctx):
        seen.append((hidden.shape[0], ctx.conditional_rows, ctx.cfg))

    with residual_hooks(model, {0: [spy]}):
        plain = model.generate(request)
    assert set(seen) == {(2, 1, True)}  # CFG: conditional row first, then the null row
    direction = torch.randn(model.d_model, generator=torch.Generator().manual_seed(0))
    with steer(model, [AddDirection(layer=1, direction=direction, alpha=0.0)]):
        zero = model.generate(request)
    assert np.array_equal(zero.codes, plain.codes) and np.array_equal(zero.audio, plain.audio)
    with steer(
        model,
        [AddDirection(layer=1, direction=direction, alpha=50.0, branch=CfgBranch.UNCONDITIONAL)],
    ):
        uncond = model.generate(request)
    assert not np.array_equal(uncond.codes, plain.codes)
    assert _no_hooks(model)


def test_cancel_leaves_no_hooks_and_seeds_reproduce(model):
    token = CancelToken()

    def cancel_at_two(done, total):
        if done == 2:
            token.cancel()

    direction = torch.ones(model.d_model)
    with pytest.raises(Cancelled), steer(model, [AddDirection(1, direction, alpha=1.0)]):
        model.generate(_request(model), progress=cancel_at_two, cancel=token)
    assert _no_hooks(model)
    a, b = model.generate(_request(model)), model.generate(_request(model))
    c = model.generate(_request(model, seed=6))
    assert np.array_equal(a.codes, b.codes) and np.array_equal(a.audio, b.audio)
    assert not np.array_equal(a.codes, c.codes)


# --- the stepping interface (MusicModel.decode_steps), one loop for every backend -------------
def test_decode_steps_is_the_loop_generate_runs(model):
    request = _request(model, variants=2)
    seen = []
    for state in model.decode_steps(request):
        seen.append((state.step, state.steps, state.frames_done))
    steps = 8 + max(model.delays)
    assert [(s, t) for s, t, _ in seen] == [(i, steps) for i in range(1, steps + 1)]
    assert seen[-1][2] == 8 and seen[max(model.delays)][2] == 1  # frames complete as they lag
    codes = state.codes()
    progress = []
    take = model.generate(request, progress=lambda d, t: progress.append((d, t)))
    assert progress == [(s, t) for s, t, _ in seen]
    assert np.array_equal(codes.cpu().numpy(), take.codes) and take.codes.shape[-1] == 8
    built = model.build_take(request, codes, model.decode(codes), take.seconds)
    assert np.array_equal(built.audio, take.audio) and built.model_id == take.model_id


def test_streamed_render_hands_chunks_in_order_and_the_same_take(model):
    from musae_core.models.streaming import StreamOptions
    from musae_core.render import render

    request = _request(model)
    options = StreamOptions(first_chunk=2, chunk=2, left_context=2, lookahead=1, crossfade=1)
    steps, chunks = [0], []
    direction = torch.ones(model.d_model)
    steering = [AddDirection(1, direction, alpha=1.0)]
    take = render(
        model,
        request,
        steering,
        lambda done, total: steps.__setitem__(0, done),
        on_chunk=lambda c: chunks.append((c, steps[0])),
        stream_options=options,
        capture_layers=[1],
    )
    finals = [c.final for c, _ in chunks]
    assert len(chunks) >= 3 and finals == [False] * (len(chunks) - 1) + [True]
    sizes = [c.n_frames for c, _ in chunks]
    assert [c.start_frame for c, _ in chunks] == list(np.cumsum([0, *sizes[:-1]]))
    assert sum(sizes) == 8
    assert [s for _, s in chunks] == sorted(s for _, s in chunks) and chunks[0][1] < chunks[-1][1]
    assert chunks[-1][0].take is take and take.steering[0]["layer"] == 1
    plain = render(model, request, steering, capture_layers=[1])
    assert np.array_equal(take.codes, plain.codes) and np.array_equal(take.audio, plain.audio)
    assert take.activations[1].shape == (1, 8, model.d_model)
    assert torch.equal(take.activations[1], plain.activations[1])
    assert _no_hooks(model)


def test_cancel_mid_stream_stops_at_a_step_and_leaves_no_hooks(model):
    from musae_core.models.streaming import StreamOptions
    from musae_core.render import render

    token, chunks = CancelToken(), []

    def first_chunk_cancels(chunk):
        chunks.append(chunk)
        token.cancel()

    options = StreamOptions(first_chunk=2, chunk=2, left_context=2, lookahead=1, crossfade=1)
    steering = [AddDirection(1, torch.ones(model.d_model), alpha=1.0)]
    torch.manual_seed(1)
    expected = torch.rand(2)
    torch.manual_seed(1)
    with pytest.raises(Cancelled):
        render(
            model,
            _request(model),
            steering,
            cancel=token,
            on_chunk=first_chunk_cancels,
            stream_options=options,
        )
    assert len(chunks) == 1 and not chunks[0].final
    assert torch.equal(torch.rand(2), expected)  # the loop's forked RNG left the global one alone
    assert _no_hooks(model)
