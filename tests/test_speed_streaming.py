"""Streaming playback: chunks arrive before the take is done and add up to the full decode."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from musae_core.errors import Cancelled
from musae_core.jobs import CancelToken
from musae_core.models.base import GenerationRequest
from musae_core.models.loading import load_model
from musae_core.models.streaming import StreamOptions
from musae_core.render import render
from musae_core.steering import AddDirection

REQUEST = GenerationRequest(prompts=("bright piano",), duration=2.0, seed=4)
STREAM_TOLERANCE = 1e-4  # max |chunks - full decode|, tiny codec (see docs/benchmarks.md)


@pytest.mark.parametrize("model_id", ["tiny", "tiny-stereo", "tiny-melody"])
def test_chunks_concatenate_to_the_full_decode(model_id):
    model = load_model(model_id, device="cpu", dtype="fp32")
    steps_at_chunk: list[int] = []
    done = [0]
    chunks = []
    for chunk in model.generate_stream(REQUEST, progress=lambda d, t: done.__setitem__(0, d)):
        steps_at_chunk.append(done[0])
        chunks.append(chunk)
    take = chunks[-1].take
    plain = model.generate(REQUEST)
    assert np.array_equal(take.codes, plain.codes) and np.array_equal(take.audio, plain.audio)
    assert [c.final for c in chunks] == [False] * (len(chunks) - 1) + [True]
    steps = plain.codes.shape[-1] + max(model.delays)
    assert len(chunks) >= 3 and steps_at_chunk[0] < steps // 2  # playback starts early
    starts = [c.start_sample for c in chunks]
    lengths = [c.audio.shape[-1] for c in chunks]
    assert starts == list(np.cumsum([0, *lengths[:-1]]))
    streamed = np.concatenate([c.audio for c in chunks], axis=-1)
    assert streamed.shape == plain.audio.shape
    assert np.abs(streamed - plain.audio).max() <= STREAM_TOLERANCE


def test_options_shape_the_chunks(tiny_model):
    opts = StreamOptions(first_chunk=10, chunk=20, left_context=10, lookahead=4, crossfade=2)
    chunks = list(tiny_model.generate_stream(REQUEST, options=opts))
    assert chunks[0].n_frames == 10
    assert all(c.n_frames == 20 for c in chunks[1:-1])
    assert sum(c.n_frames for c in chunks) == 100
    no_take = StreamOptions(full_take=False)
    assert list(tiny_model.generate_stream(REQUEST, options=no_take))[-1].take is None


def test_cancel_stops_the_stream(tiny_model):
    cancel = CancelToken()
    stream = tiny_model.generate_stream(REQUEST, cancel=cancel)
    next(stream)
    cancel.cancel()
    with pytest.raises(Cancelled):
        list(stream)
    torch.manual_seed(1)
    expected = torch.rand(2)
    torch.manual_seed(1)
    abandoned = tiny_model.generate_stream(REQUEST)
    next(abandoned)
    abandoned.close()  # a listener that stops early leaves the global RNG alone
    assert torch.equal(torch.rand(2), expected)


def test_steered_streaming_render_steers_and_records(tiny_model):
    direction = torch.randn(tiny_model.d_model, generator=torch.Generator().manual_seed(0))
    zero = [AddDirection(layer=1, direction=direction, alpha=0.0)]
    strong = [AddDirection(layer=1, direction=direction, alpha=20.0)]
    plain = tiny_model.generate(REQUEST)
    chunks0, chunks1 = [], []
    take0 = render(tiny_model, REQUEST, zero, on_chunk=chunks0.append)
    take1 = render(tiny_model, REQUEST, strong, on_chunk=chunks1.append)
    assert take0 is chunks0[-1].take and take1 is chunks1[-1].take
    assert len(chunks1) >= 3 and [c.final for c in chunks1][-1]
    assert np.array_equal(take0.audio, plain.audio)
    assert not np.array_equal(take1.codes, plain.codes)
    assert take1.steering and take1.steering[0]["layer"] == 1
    assert np.array_equal(take1.audio, render(tiny_model, REQUEST, strong).audio)
    assert not tiny_model.residual_module(1)._forward_hooks  # hooks gone after the stream
