"""Per-segment steering over one decoding loop, and the teacher-forced prefix of a punch-in.

A take is a list of ``Segment``s: from decoder position (= audio frame) ``start_frame`` on, the
segment's interventions steer the residual stream. Sampling draws from one generator seeded
with the request's seed for the whole loop: every step draws the same amount whether its cells
are sampled or teacher-forced, so a punch-in with unchanged steering reproduces its parent bit
for bit, and any difference after the point is the steering's doing. A one-segment take is
bit-identical to a plain ``render``.

With MusicGen's delay pattern, codebook k of frame f is sampled at position f + delay[k]; a
punch at frame P keeps exactly the cells whose frame is < P, so the kept prefix ends at
position P for codebook 0 and later for the delayed codebooks.
"""

from __future__ import annotations

import bisect
import contextlib
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch

from musae_core.errors import MusaeError
from musae_core.jobs import CancelToken
from musae_core.models import delay as dp
from musae_core.models.base import ForwardContext, GenerationRequest
from musae_core.models.residual import ResidualFn, residual_hooks
from musae_core.steering.context import _layer_fn
from musae_core.steering.interventions import validated_direction


@dataclass
class Segment:
    """Steering ``interventions`` from audio frame ``start_frame`` on (until the next one)."""

    start_frame: int
    interventions: list = field(default_factory=list)
    requested_at: float | None = None  # perf_counter of a live knob change, for latency
    mixer: dict | None = None  # the app's mixer state behind ``interventions``, for the sidecar

    def to_dict(self, frame_rate: float) -> dict:
        return {
            "from_frame": self.start_frame,
            "from_seconds": round(self.start_frame / frame_rate, 6),
            "steering": [iv.to_dict() for iv in self.interventions],
            **({"mixer": self.mixer} if self.mixer is not None else {}),
        }


class SteeringSchedule:
    """Segments in frame order plus a pending change a UI thread may hand in at any time.

    ``request_change`` is thread-safe; the decoding thread calls ``take_pending(frame)`` at a
    chunk boundary, which turns the pending change into a new segment starting at ``frame``.
    """

    def __init__(self, model, segments: Sequence[Segment] = (), live: bool = False) -> None:
        self.model = model
        self.segments: list[Segment] = list(segments) or [Segment(0, [])]
        starts = [s.start_frame for s in self.segments]
        if starts[0] != 0 or starts != sorted(set(starts)):
            raise MusaeError(
                f"Punch segments must start at frame 0 and increase, got {starts}.",
                "order the punch points by time, one per frame.",
            )
        for segment in self.segments:
            self._check(segment.interventions)
        self.live = live
        self._lock = threading.Lock()
        self._pending: Segment | None = None
        self._fns: dict[int, dict[int, ResidualFn]] = {}

    def _check(self, interventions: Sequence) -> None:
        for iv in interventions:
            self.model.check_layer(iv.layer)
            validated_direction(iv.direction, self.model.d_model)

    # --- live changes (any thread) ------------------------------------------------------------
    def request_change(self, interventions: Sequence, mixer: dict | None = None) -> None:
        """Steer with ``interventions`` from the next chunk boundary on (last call wins)."""
        self._check(interventions)
        with self._lock:
            self._pending = Segment(-1, list(interventions), time.perf_counter(), mixer)

    def take_pending(self, frame: int) -> Segment | None:
        """Start the pending change (if any) at ``frame``; called by the decoding thread."""
        with self._lock:
            pending, self._pending = self._pending, None
        if pending is None or frame <= self.segments[-1].start_frame:
            return None
        pending.start_frame = frame
        self.segments.append(pending)
        return pending

    # --- lookup (decoding thread) -------------------------------------------------------------
    def index_at(self, frame: int) -> int:
        starts = [s.start_frame for s in self.segments]
        return max(0, bisect.bisect_right(starts, frame) - 1)

    def _layer_fns(self, index: int) -> dict[int, ResidualFn]:
        if index not in self._fns:
            by_layer: dict[int, list] = {}
            for iv in self.segments[index].interventions:
                by_layer.setdefault(iv.layer, []).append(iv)
            self._fns[index] = {layer: _layer_fn(ivs) for layer, ivs in by_layer.items()}
        return self._fns[index]

    @contextlib.contextmanager
    def hooks(self) -> Iterator[None]:
        """Residual hooks that apply, at each position, the steering of its segment."""
        if self.live:
            layers = set(range(self.model.num_layers))
        else:
            layers = {iv.layer for s in self.segments for iv in s.interventions}

        def make(layer: int) -> ResidualFn:
            def fn(hidden: torch.Tensor, ctx: ForwardContext) -> torch.Tensor | None:
                index = self.index_at(int(ctx.positions[-1]))
                layer_fn = self._layer_fns(index).get(layer)
                return None if layer_fn is None else layer_fn(hidden, ctx)

            return fn

        fns = {layer: [make(layer)] for layer in sorted(layers)}
        with residual_hooks(self.model, fns, prepend=True):  # steer before any capture
            yield


def forced_prefix(model, prefix: torch.Tensor, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(delayed prefix tokens (B, K, steps), mask (K, steps)) of the cells a punch keeps."""
    n_kept = prefix.shape[-1]
    delayed = dp.delay(prefix.long().to(model.device), model.delays, model.pad_id)
    out = torch.full((*delayed.shape[:2], steps), model.pad_id, device=model.device)
    width = min(steps, delayed.shape[-1])
    out[:, :, :width] = delayed[:, :, :width]
    mask = dp.valid_mask(steps, model.delays, n_kept, device=model.device)
    return out, mask


def decode_segments(
    model,
    request: GenerationRequest,
    schedule: SteeringSchedule,
    prefix: torch.Tensor | None = None,
    cancel: CancelToken | None = None,
) -> Iterator:
    """``model.decode_steps`` with per-segment steering, and ``prefix`` codes
    (B, K, P) teacher-forced: every cell whose frame is < P keeps the prefix's token."""
    n_frames = model.n_frames_for(request.duration)
    forced = mask = None
    if prefix is not None:
        if prefix.shape[0] != request.batch_size or prefix.shape[-1] > n_frames:
            raise MusaeError(
                f"The kept codes {tuple(prefix.shape)} do not fit the request "
                f"({request.batch_size} items, {n_frames} frames).",
                "continue a take with its own request (same prompt, duration and variants).",
            )
        forced, mask = forced_prefix(
            model, model.check_codes(prefix), dp.steps_for_frames(n_frames, model.delays)
        )
    with schedule.hooks(), torch.inference_mode():
        for state in model.decode_steps(request, cancel):
            column = state.step  # tokens[:, :, column] was predicted at position column - 1
            if forced is not None and mask is not None and bool(mask[:, column - 1].any()):
                keep = mask[:, column - 1][None]
                state.tokens[:, :, column] = torch.where(
                    keep, forced[:, :, column - 1], state.tokens[:, :, column]
                )
            yield state
