"""Streaming playback: decode the codec in chunks while the language model is still sampling.

``stream_take(model, request, progress, cancel)`` (also ``model.generate_stream``) runs the
same decoding loop as ``generate`` (``MusicModel.decode_steps``, every backend) and yields
``AudioChunk``s as soon as enough frames are complete. Steered streaming goes through
``musae_core.render.render(..., on_chunk=...)``, which runs this inside the steering hooks.

MusicGen's EnCodec decoder is convolutional (non-causal convolutions plus an LSTM), so a chunk
decoded on its own differs from the full decode near its edges. Each chunk is therefore decoded
with ``left_context`` frames before it and the last ``lookahead`` frames held back until the next
chunk; the first ``crossfade`` held-back frames are decoded by both windows and mixed with a
linear crossfade. Concatenating every chunk's ``audio`` gives the take's length exactly and
matches the full decode to within a small error (measured in tests/test_speed_streaming.py and
docs/benchmarks.md). The last chunk carries ``take``: the full-decode ``Take`` that
``generate`` would have returned for the same request (same codes, bit-identical audio), which
is what the app should store.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from musae_core.errors import MusaeError
from musae_core.jobs import CancelToken, ProgressFn, check, no_progress

if TYPE_CHECKING:  # annotations only: base.generate_stream imports this module
    from musae_core.models.base import DecodeState, GenerationRequest, MusicModel, Take


@dataclass
class AudioChunk:
    """``audio`` (batch, channels, samples) float32 starting at ``start_sample`` of the take."""

    audio: np.ndarray
    sample_rate: int
    start_sample: int
    start_frame: int
    n_frames: int
    elapsed: float  # seconds since the request started, when this chunk became available
    final: bool = False
    take: Take | None = None  # on the final chunk: the full take, as generate() returns it


@dataclass(frozen=True)
class StreamOptions:
    """Chunking in codec frames (50 per second for MusicGen)."""

    first_chunk: int = 25  # frames in the first chunk: small, for a fast time-to-first-audio
    chunk: int = 50  # frames per later chunk
    left_context: int = 25  # frames decoded before a chunk and thrown away
    lookahead: int = 6  # frames held back at a chunk's end (decoded again by the next chunk)
    crossfade: int = 4  # of the held-back frames, how many are crossfaded (<= lookahead)
    full_take: bool = True  # decode the whole take at the end and attach it to the last chunk


class _ChunkDecoder:
    """Turns growing code prefixes into consecutive audio chunks (see module docstring)."""

    def __init__(self, model: MusicModel, options: StreamOptions) -> None:
        self.model = model
        self.opt = options
        self.hop = model.sample_rate / model.frame_rate
        self.emitted = 0  # frames already handed out
        self.tail: np.ndarray | None = None  # previous decode of frames [emitted, +crossfade)

    def _samples(self, frames: int) -> int:
        return round(frames * self.hop)

    def ready(self, frames_done: int) -> bool:
        size = self.opt.first_chunk if self.emitted == 0 else self.opt.chunk
        return frames_done - self.opt.lookahead - self.emitted >= size

    def decode(self, codes: torch.Tensor, final: bool) -> tuple[np.ndarray, int, int]:
        """codes (B, K, available frames) -> (audio, start frame, frames) of the next chunk."""
        available = codes.shape[-1]
        start = max(0, self.emitted - self.opt.left_context)
        window = self.model.decode(codes[:, :, start:]).float().cpu().numpy()
        end = available if final else available - self.opt.lookahead
        offset = self._samples(self.emitted) - self._samples(start)
        stop = self._samples(end) - self._samples(start)
        piece = window[..., offset:stop].copy()
        if self.tail is not None:
            n = min(self.tail.shape[-1], piece.shape[-1])
            ramp = np.linspace(0.0, 1.0, n + 2, dtype=np.float32)[1:-1]
            piece[..., :n] = self.tail[..., :n] * (1 - ramp) + piece[..., :n] * ramp
        self.tail = None
        if not final and self.opt.crossfade > 0:
            fade = self._samples(min(end + self.opt.crossfade, available)) - self._samples(start)
            self.tail = window[..., stop:fade].copy()
        first = self.emitted
        self.emitted = end
        return piece, first, end - first


def stream_take(
    model: MusicModel,
    request: GenerationRequest,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    options: StreamOptions | None = None,
    steps: Iterator[DecodeState] | None = None,
    on_boundary: Callable[[int], object] | None = None,
) -> Generator[AudioChunk, None, None]:
    """Generate ``request`` and yield audio chunks as frames complete (see module docstring).

    ``steps`` replaces ``model.decode_steps(request, cancel)`` (e.g. the punch-in loop with
    per-segment steering); ``on_boundary(step)`` runs after each chunk is handed out, before
    the next decoder step (where a live knob change may start a new steering segment).

    Cancelling stops between steps with ``Cancelled``, as ``generate`` does.
    """
    progress = progress or no_progress
    options = options or StreamOptions()
    started = time.perf_counter()
    chunks = _ChunkDecoder(model, options)
    state = None
    for state in steps if steps is not None else model.decode_steps(request, cancel):
        progress(state.step, state.steps)
        if state.step < state.steps and chunks.ready(state.frames_done):
            with torch.inference_mode():
                audio, first, n = chunks.decode(state.codes(), final=False)
            yield _chunk(model, audio, first, n, started)
            if on_boundary is not None:
                on_boundary(state.step)
    check(cancel)
    if state is None:
        raise MusaeError("The decode produced no steps.", "ask for at least one frame.")
    with torch.inference_mode():
        codes = state.codes()
        audio, first, n = chunks.decode(codes, final=True)
        last = _chunk(model, audio, first, n, started, final=True)
        if options.full_take:
            last.take = model.build_take(request, codes, model.decode(codes), 0.0)
            last.take.seconds = time.perf_counter() - started
    yield last


def _chunk(model, audio, first, n, started, final=False) -> AudioChunk:
    hop = model.sample_rate / model.frame_rate
    return AudioChunk(
        audio=audio.astype(np.float32, copy=False),
        sample_rate=model.sample_rate,
        start_sample=round(first * hop),
        start_frame=first,
        n_frames=n,
        elapsed=time.perf_counter() - started,
        final=final,
    )
