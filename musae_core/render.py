"""Render a take: generation with a steering recipe applied, and its reproducibility record."""

from __future__ import annotations

import dataclasses
import platform
from collections.abc import Sequence

import torch

from musae_core import __version__
from musae_core.jobs import CancelToken, ProgressFn
from musae_core.models.base import GenerationRequest, MusicModel, Take
from musae_core.steering import Intervention, steer


def render(
    model: MusicModel,
    request: GenerationRequest,
    interventions: Sequence[Intervention] = (),
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> Take:
    """Generate ``request`` with ``interventions`` active; hooks are gone when this returns."""
    with steer(model, interventions):
        take = model.generate(request, progress=progress, cancel=cancel)
    take.steering = [iv.to_dict() for iv in interventions]
    return take


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


def take_metadata(model: MusicModel, take: Take, index: int = 0) -> dict:
    """Everything needed to reproduce item ``index`` of a take."""
    return {
        "model_id": take.model_id,
        "sample_rate": take.sample_rate,
        "frame_rate": model.frame_rate,
        "device": str(model.device),
        "dtype": str(model.dtype).replace("torch.", ""),
        "batch_index": index,
        "request": dataclasses.asdict(take.request),
        "steering": take.steering,
        "render_seconds": round(take.seconds, 3),
        "versions": versions(),
    }
