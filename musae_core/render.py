"""Render a take: generation with a steering recipe applied, and its reproducibility record."""

from __future__ import annotations

import contextlib
import platform
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from musae_core import __version__
from musae_core.errors import MusaeError
from musae_core.jobs import CancelToken, ProgressFn
from musae_core.models.base import GenerationRequest, MusicModel, Take
from musae_core.models.sampling import NonFiniteLogits
from musae_core.steering import Intervention, steer


def render(
    model: MusicModel,
    request: GenerationRequest,
    interventions: Sequence[Intervention] = (),
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> Take:
    """Generate ``request`` with ``interventions`` active; hooks are gone when this returns."""
    with explain_breakdown(interventions), steer(model, interventions):
        take = model.generate(request, progress=progress, cancel=cancel)
    take.steering = [iv.to_dict() for iv in interventions]
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
