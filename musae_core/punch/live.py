"""Live steering while a take streams: a knob change lands at the next chunk boundary.

``LiveStream`` runs the streaming decode with a ``SteeringSchedule``; another thread calls
``change(interventions)`` at any time and the decoding thread starts a new segment at the
next chunk boundary (no restart: the model continues from where it is). Each landed change is
recorded with its timestamps, so latency from the knob release to the first changed sample
handed to playback can be measured (bench/punch_latency.py).
"""

from __future__ import annotations

import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass

from musae_core.jobs import CancelToken, ProgressFn
from musae_core.models.base import GenerationRequest
from musae_core.models.streaming import AudioChunk, StreamOptions, stream_take
from musae_core.punch.schedule import Segment, SteeringSchedule, decode_segments
from musae_core.punch.takes import Recipe

LIVE_OPTIONS = StreamOptions(chunk=25)
"""Half-second chunks: a change lands at most one chunk later (latency in docs/benchmarks.md)."""


@dataclass
class Landing:
    """When a live change was asked for, where it started, and when its audio was handed out."""

    segment: Segment
    requested_at: float  # perf_counter of the knob release
    boundary_at: float  # perf_counter when the decoding thread switched steering
    heard_at: float | None = None  # perf_counter when a chunk with changed frames was yielded

    @property
    def latency(self) -> float | None:
        return None if self.heard_at is None else self.heard_at - self.requested_at


class LiveStream:
    """A streaming render whose steering can change mid-take (see module docstring)."""

    def __init__(self, model, request: GenerationRequest, interventions: Sequence = ()) -> None:
        self.model = model
        self.request = request
        self.schedule = SteeringSchedule(model, [Segment(0, list(interventions))], live=True)
        self.landings: list[Landing] = []

    def change(self, interventions: Sequence, mixer: dict | None = None) -> None:
        """Any thread: steer with ``interventions`` from the next chunk boundary on."""
        self.schedule.request_change(interventions, mixer)

    def _boundary(self, step: int) -> None:
        segment = self.schedule.take_pending(step)
        if segment is not None:
            now = time.perf_counter()  # a live change always carries requested_at
            self.landings.append(Landing(segment, segment.requested_at or now, now))

    def chunks(
        self,
        progress: ProgressFn | None = None,
        cancel: CancelToken | None = None,
        options: StreamOptions | None = None,
    ) -> Generator[AudioChunk, None, None]:
        """The stream's chunks; the final one carries the full take (its steering: the last
        segment's; ``recipe()`` has them all)."""
        options = options or LIVE_OPTIONS
        steps = decode_segments(self.model, self.request, self.schedule, None, cancel)
        for chunk in stream_take(
            self.model,
            self.request,
            progress,
            cancel,
            options,
            steps=steps,
            on_boundary=self._boundary,
        ):
            end = chunk.start_frame + chunk.n_frames
            lag = max(self.model.delays)  # position s also samples codebook k of frame s - k
            for landing in self.landings:
                if landing.heard_at is None and end > landing.segment.start_frame - lag:
                    landing.heard_at = time.perf_counter()
            if chunk.take is not None:
                last = self.schedule.segments[-1].interventions
                chunk.take.steering = [iv.to_dict() for iv in last]
            yield chunk

    def recipe(self) -> Recipe:
        """The take's recipe: ``render_recipe`` renders it again bit for bit."""
        return Recipe(self.request, list(self.schedule.segments))
