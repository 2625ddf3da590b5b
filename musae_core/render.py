"""Render a take: generation with a steering recipe applied, and its reproducibility record.

``render`` is the one place that steers, generates and records the steering: the CLI
(``musae generate``), the workstation session (plain and streamed, with live knob changes) and
steered streaming all call it, so a take is the same bits whichever way it was asked for.
"""

from __future__ import annotations

import contextlib
import platform
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import Any, Protocol

import torch

from musae_core import __version__
from musae_core.errors import MusaeError
from musae_core.jobs import CancelToken, ProgressFn, check
from musae_core.models.base import GenerationRequest, MusicModel, Take
from musae_core.models.residual import capture_residual
from musae_core.models.sampling import NonFiniteLogits
from musae_core.models.streaming import AudioChunk, StreamOptions, stream_take
from musae_core.steering import Intervention, steer

ChunkCallback = Callable[[AudioChunk], object]


class LiveSteering(Protocol):
    """Steering that may change mid-take and streams its own chunks
    (``musae_core.punch.live.LiveStream``); its final take records its own steering."""

    def chunks(
        self, progress: ProgressFn | None = None, cancel: CancelToken | None = None
    ) -> Iterator[AudioChunk]: ...


def render(
    model: MusicModel,
    request: GenerationRequest,
    interventions: Sequence[Intervention] = (),
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    *,
    capture_layers: Sequence[int] = (),
    on_chunk: ChunkCallback | None = None,
    stream_options: StreamOptions | None = None,
    live: LiveSteering | None = None,
) -> Take:
    """Generate ``request`` with ``interventions`` active; hooks are gone when this returns.

    ``capture_layers``: the (steered) residual stream at these layers lands in
    ``take.activations`` as (batch, frames, d_model), conditional rows. ``on_chunk``: stream,
    handing each ``AudioChunk`` to it on this thread as frames complete (the returned take is
    bit-identical to an unstreamed one). ``live``: steer with a live schedule instead of
    ``interventions`` (which then only name the steering in error messages) and stream its
    chunks. Cancelling raises ``Cancelled`` between decoder steps.
    """
    n_frames = model.n_frames_for(request.duration)
    layers = list(capture_layers)
    steering = contextlib.nullcontext() if live is not None else steer(model, interventions)
    with explain_breakdown(interventions), steering, capture_residual(model, layers) as rec:
        if on_chunk is None and live is None:
            take = model.generate(request, progress=progress, cancel=cancel)
        else:
            if live is not None:
                chunks = live.chunks(progress, cancel)
            else:
                chunks = stream_take(model, request, progress, cancel, stream_options)
            take = _streamed_take(chunks, on_chunk, cancel)
    if live is None:
        take.steering = [iv.to_dict() for iv in interventions]
    take.activations = {layer: rec.activations(layer, n_frames) for layer in layers}
    return take


def _streamed_take(
    chunks: Iterator[AudioChunk], on_chunk: ChunkCallback | None, cancel: CancelToken | None
) -> Take:
    """Hand every chunk on; the final one carries the take. A stream left early (an
    exception, a cancel) is closed here, so its decoding loop restores the RNG at once."""
    take = None
    try:
        for chunk in chunks:
            if on_chunk is not None:
                on_chunk(chunk)
            if chunk.final:
                take = chunk.take
    finally:
        if isinstance(chunks, Generator):
            chunks.close()
    check(cancel)
    if take is None:
        raise MusaeError(
            "The stream ended without a take (its options say full_take=False).",
            "render with the default StreamOptions (full_take=True).",
        )
    return take


def describe_intervention(iv: Intervention) -> str:
    """'feature 5 at strength 1e+30 (beta 3.1)'-style words for error messages."""
    params, source = iv.params(), iv.source
    strength = params.get("alpha", params.get("value"))
    what = (
        f"feature {source['feature']}"
        if "feature" in source
        else f"{type(iv).__name__} on layer {iv.layer}"
    )
    text = f"{what} at strength {strength:g}" if strength is not None else what
    return text + (f" (beta {params['beta']:g})" if "beta" in params else "")


@contextlib.contextmanager
def explain_breakdown(interventions: Sequence[Intervention]) -> Iterator[None]:
    """Re-raise inf/NaN logits under steering as an error naming the features and strengths."""
    try:
        yield
    except NonFiniteLogits as exc:
        active = [iv for iv in interventions if iv.active]
        if not active:
            raise
        raise MusaeError(
            "Generation broke down (the model produced inf/NaN logits) while steering "
            f"{'; '.join(describe_intervention(iv) for iv in active)}.",
            "lower these strengths; +-1..4 is the musical range.",
        ) from exc


def versions() -> dict[str, str]:
    """Versions that affect a take's bits."""
    import numpy
    import transformers

    return {
        "musae": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
    }


def take_metadata(model: MusicModel, take: Take, index: int = 0) -> dict[str, Any]:
    """Everything needed to reproduce item ``index`` of a take."""
    return {
        "model_id": take.model_id,
        "sample_rate": take.sample_rate,
        "frame_rate": model.frame_rate,
        "device": str(model.device),
        "dtype": str(model.dtype).replace("torch.", ""),
        "batch_index": index,
        "request": take.request.to_dict(),
        "steering": take.steering,
        "render_seconds": round(take.seconds, 3),
        "versions": versions(),
    }
