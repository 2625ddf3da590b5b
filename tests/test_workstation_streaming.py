"""Headless streaming renders (no Qt): chunks come early, the take is the same, cancel is clean."""

from __future__ import annotations

import numpy as np
import pytest

from musae_core.errors import Cancelled
from musae_core.jobs import CancelToken
from musae_core.workstation import MasterSettings, MixerState, Project, Session, StreamChunk

MASTER = MasterSettings(prompt="simple melody", duration=2.0, seed=5)
MIXER = MixerState().add(4).update(4, strength=2.0)
TOLERANCE = 1e-4  # streamed chunks vs the full decode (see tests/test_speed_streaming.py)


def make_session(model, sae_dir) -> Session:
    session = Session(project=Project(model_id="tiny", master=MASTER))
    session.model = model
    session.load_sae(sae_dir)
    return session


def no_hooks(model) -> bool:
    modules = [model.residual_module(layer) for layer in range(model.num_layers)]
    return not any(m._forward_hooks or m._forward_pre_hooks for m in modules)


def test_streaming_render_matches_the_plain_render(tiny_model, tiny_sae_dir):
    streaming = make_session(tiny_model, tiny_sae_dir)
    chunks: list[tuple[StreamChunk, int]] = []
    steps = [0, 0]

    def progress(done: int, total: int) -> None:
        steps[:] = [done, total]

    take = streaming.render(
        MASTER, MIXER, progress, on_chunk=lambda c: chunks.append((c, steps[0]))
    )
    plain = make_session(tiny_model, tiny_sae_dir).render(MASTER, MIXER)
    np.testing.assert_array_equal(take.steered, plain.steered)
    np.testing.assert_array_equal(take.unsteered, plain.unsteered)
    assert take.gains == plain.gains and take.metadata["request"] == plain.metadata["request"]
    assert take.metadata["steering"] == plain.metadata["steering"]
    assert set(take.activations) == {4}
    np.testing.assert_allclose(take.activations[4], plain.activations[4], atol=1e-5)
    np.testing.assert_allclose(take.unsteered_activations[4], plain.unsteered_activations[4])
    # chunks: early, contiguous, the steered pass, and summing to the stored take
    assert len(chunks) >= 3 and [c.final for c, _ in chunks][-1]
    assert chunks[0][1] < steps[1] // 4  # the first chunk came before a quarter of the work
    total = take.steered.shape[-1]
    assert all(c.total_samples == total == streaming.expected_samples(MASTER) for c, _ in chunks)
    streamed = np.concatenate([c.audio for c, _ in chunks], axis=-1)
    assert [c.start_sample for c, _ in chunks][1] == chunks[0][0].audio.shape[-1]
    assert streamed.shape == take.steered.shape
    assert np.abs(streamed - take.steered).max() <= TOLERANCE
    assert no_hooks(tiny_model)


def test_unsteered_stream_and_the_cache(tiny_model, tiny_sae_dir):
    session = make_session(tiny_model, tiny_sae_dir)
    chunks: list[StreamChunk] = []
    take = session.render(MASTER, MixerState(), on_chunk=chunks.append)
    streamed = np.concatenate([c.audio for c in chunks], -1)
    assert np.abs(streamed - take.steered).max() <= TOLERANCE
    assert np.array_equal(take.steered, take.unsteered)  # no steering: one pass, streamed
    chunks.clear()
    again = session.render(MASTER, MixerState(), on_chunk=chunks.append)
    assert chunks == [] and np.array_equal(again.unsteered, take.unsteered)  # cached: no pass
    steered = session.render(MASTER, MIXER, on_chunk=chunks.append)
    assert chunks and np.array_equal(steered.unsteered, take.unsteered)


def test_cancel_mid_stream_leaves_nothing_behind(tiny_model, tiny_sae_dir):
    session = make_session(tiny_model, tiny_sae_dir)
    token = CancelToken()
    seen: list[StreamChunk] = []

    def on_chunk(chunk: StreamChunk) -> None:
        seen.append(chunk)
        token.cancel()

    with pytest.raises(Cancelled):
        session.render(MASTER, MIXER, cancel=token, on_chunk=on_chunk)
    assert len(seen) == 1 and not seen[0].final
    assert session.takes == [] and no_hooks(tiny_model)
    take = session.render(MASTER, MIXER)  # the session still renders, from take id 1
    assert take.take_id == 1 and len(session.takes) == 1
