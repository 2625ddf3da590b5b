"""The hand-off between a streaming render (worker thread) and the audio callback.

A single-producer, single-consumer queue of samples: the buffer is allocated once on the UI
thread (the take's length is known before the render starts), the worker copies each chunk
into it and only then publishes the new ``available`` count, and the audio callback reads
samples below ``available``. No locks (nothing can block the callback or the UI thread) and no
allocation on the audio side; Python's GIL orders the writes, so a published count always
covers samples that are already written.
"""

from __future__ import annotations

import time

import numpy as np


class StreamFeed:
    """Mono samples of the take being rendered, filled front to back while it plays."""

    def __init__(self, total_samples: int, sample_rate: int) -> None:
        self.data = np.zeros(max(int(total_samples), 1), np.float32)
        self.total = len(self.data)
        self.sample_rate = int(sample_rate)
        self.available = 0  # samples [0, available) are written; only the worker raises it
        self.complete = False  # the final chunk is in: the buffer holds the whole take
        self.closed = False  # cancelled or superseded: later chunks are dropped
        self.chunks = 0
        self.created = time.perf_counter()
        self.first_audio: float | None = None  # perf_counter() when the first chunk landed

    def push(self, chunk) -> None:
        """Worker thread: append a ``StreamChunk`` ((channels, samples) audio at start_sample)."""
        if self.closed:
            return
        audio = np.asarray(chunk.audio, np.float32)
        mono = audio.reshape(-1, audio.shape[-1]).mean(0) if audio.ndim > 1 else audio
        start = min(int(chunk.start_sample), self.total)
        end = min(start + mono.shape[-1], self.total)
        self.data[start:end] = mono[: end - start]
        self.chunks += 1
        if self.first_audio is None:
            self.first_audio = time.perf_counter()
        if start <= self.available:  # chunks are contiguous; publish only after the copy
            self.available = max(self.available, end)
        if chunk.final:  # set last: the callback reads ``complete`` before ``available``
            self.complete = True

    def close(self) -> None:
        """Stop accepting chunks (the render was cancelled or replaced)."""
        self.closed = True

    @property
    def seconds_available(self) -> float:
        return self.available / max(self.sample_rate, 1)

    def time_to_first_audio(self) -> float | None:
        """Seconds from the render request until the first chunk could be heard."""
        return None if self.first_audio is None else self.first_audio - self.created
