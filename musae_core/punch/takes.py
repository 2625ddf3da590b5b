"""A punch-in take: the parent's tokens and audio up to the point, new steering after it.

The demo codec decodes the whole take at once (Griffin-Lim) and EnCodec's decoder is not
causal either, so decoding the new codes changes samples slightly before the point too. The
take's audio is therefore spliced: the parent's samples exactly up to the punch sample, then a
short linear crossfade (``CROSSFADE_MS``) into the new decode. Given the parent's audio, the
result is a pure function of (request, segments), which is what the sidecar records.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from musae_core.errors import MusaeError
from musae_core.jobs import CancelToken, ProgressFn, no_progress
from musae_core.models.base import GenerationRequest, Take
from musae_core.punch.schedule import Segment, SteeringSchedule, decode_segments

CROSSFADE_MS = 5.0


@dataclass
class Recipe:
    """How to render a take again: its request, its segments and, for a punch-in, the parent
    recipe it was punched into and the frame (tokens of earlier frames are the parent's)."""

    request: GenerationRequest
    segments: list[Segment]
    parent: Recipe | None = None
    punch_frame: int = 0

    def to_dict(self, frame_rate: float) -> dict:
        return {
            "request": self.request.to_dict(),
            "punch_frame": self.punch_frame,
            "punch_seconds": round(self.punch_frame / frame_rate, 6),
            "crossfade_ms": CROSSFADE_MS,
            "segments": [s.to_dict(frame_rate) for s in self.segments],
            "parent": self.parent.to_dict(frame_rate) if self.parent else None,
        }


def punch_frame_for(model, seconds: float, n_frames: int) -> int:
    """The frame a punch at ``seconds`` starts on; a clear error outside the take."""
    frame = round(float(seconds) * model.frame_rate)
    if not 0 < frame < n_frames:
        raise MusaeError(
            f"Punch point {seconds:g} s is outside the take (0 to {n_frames / model.frame_rate:g}"
            " s, exclusive).",
            "pick a point after the start and before the end (--from SECONDS).",
        )
    return frame


def splice(before: np.ndarray, after: np.ndarray, sample: int, crossfade: int) -> np.ndarray:
    """``before`` exactly up to ``sample``, a linear crossfade of ``crossfade`` samples, then
    ``after``; both (..., samples) of the same shape."""
    if before.shape != after.shape:
        raise MusaeError(
            f"Cannot splice audio of shapes {before.shape} and {after.shape}.",
            "continue a take with its own duration and model.",
        )
    out = np.array(after, dtype=np.float32, copy=True)
    out[..., :sample] = before[..., :sample]
    n = max(0, min(crossfade, out.shape[-1] - sample))
    if n:
        ramp = np.linspace(0.0, 1.0, n + 2, dtype=np.float32)[1:-1]
        window = slice(sample, sample + n)
        out[..., window] = before[..., window] + (after[..., window] - before[..., window]) * ramp
    return out


def _render(model, recipe: Recipe, prefix, parent_audio, progress, cancel) -> Take:
    started = time.perf_counter()
    progress = progress or no_progress
    schedule = SteeringSchedule(model, recipe.segments)
    state = None
    for state in decode_segments(model, recipe.request, schedule, prefix, cancel):
        progress(state.step, state.steps)
    if state is None:
        raise MusaeError("The recipe decoded no steps.", "render a take of at least one frame.")
    with torch.inference_mode():
        codes = state.codes()
        decoded = model.decode(codes)
    n_samples = round(codes.shape[-1] * model.sample_rate / model.frame_rate)
    audio = decoded[..., :n_samples].float().cpu().numpy()
    if parent_audio is not None:
        sample = round(recipe.punch_frame * model.sample_rate / model.frame_rate)
        fade = round(CROSSFADE_MS * model.sample_rate / 1000)
        audio = splice(parent_audio, audio, sample, fade)
    seconds = time.perf_counter() - started
    take = model.build_take(recipe.request, codes, torch.from_numpy(audio), seconds)
    take.steering = [iv.to_dict() for iv in schedule.segments[-1].interventions]
    return take


def punch_in(
    model,
    parent: Take,
    parent_recipe: Recipe,
    seconds: float,
    interventions: Sequence,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> tuple[Take, Recipe]:
    """Re-render ``parent`` from ``seconds`` on with ``interventions``.

    Tokens of frames before the point are the parent's (teacher-forced, under the parent's
    own steering so the model's cache matches it), later ones are sampled with the new
    steering; the audio before the point is the parent's, sample for sample.
    """
    codes = torch.as_tensor(np.asarray(parent.codes)).long()
    frame = punch_frame_for(model, seconds, codes.shape[-1])
    kept = [s for s in parent_recipe.segments if s.start_frame < frame]
    segments = [*kept, Segment(frame, list(interventions))]
    recipe = Recipe(parent_recipe.request, segments, parent_recipe, frame)
    take = _render(model, recipe, codes[:, :, :frame], parent.audio, progress, cancel)
    if not np.array_equal(take.codes[:, :, :frame], codes[:, :, :frame].numpy()):
        raise MusaeError("The punch-in changed tokens before the point.", "report this bug.")
    return take, recipe


def render_recipe(
    model, recipe: Recipe, progress: ProgressFn | None = None, cancel: CancelToken | None = None
) -> Take:
    """Render a take from its recipe alone (parents first, then each punch-in on top): on the
    device it was made on, tokens and audio are bit-identical to the original."""
    if recipe.parent is None:
        return _render(model, recipe, None, None, progress, cancel)
    parent = render_recipe(model, recipe.parent, None, cancel)
    prefix = torch.as_tensor(parent.codes[:, :, : recipe.punch_frame]).long()
    return _render(model, recipe, prefix, parent.audio, progress, cancel)
