"""Punch-in for the workstation: re-render a take from a point with the current mixer, and
hand live knob changes to the take that is streaming (engine: ``musae_core.punch``).

A punch take is a new ``TakeRecord`` derived from its parent (``parent_id``, ``punch_seconds``):
its steered audio is the parent's up to the point and the new steering after it; its A/B
reference ("unsteered") is the parent's steered audio, so A/B compares before and after the
punch. Its sidecar carries the recipe (segments, punch points) that renders it again.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from musae_core.errors import MusaeError
from musae_core.jobs import CancelToken, ProgressFn, check
from musae_core.punch import Recipe, Segment, punch_in, render_recipe
from musae_core.workstation.master import MasterSettings
from musae_core.workstation.mixer import MixerState
from musae_core.workstation.takes import TakeRecord, matched_gains

if TYPE_CHECKING:
    from musae_core.models.base import GenerationRequest, Take
    from musae_core.steering.interventions import Intervention
    from musae_core.workstation.session import Session, _Rendered


def attach_recipe(
    record: TakeRecord,
    rendered: _Rendered,
    request: GenerationRequest,
    interventions: list[Intervention],
    mixer: MixerState,
) -> None:
    """Give a freshly rendered take its codes and recipe (live changes included)."""
    record.codes = rendered.take.codes
    recipe = rendered.recipe or Recipe(request, [Segment(0, list(interventions))])
    recipe.segments[0].mixer = recipe.segments[0].mixer or mixer.to_dict()
    record.recipe = recipe
    if len(recipe.segments) > 1:
        record.metadata["recipe"] = recipe.to_dict(record.frame_rate)
        record.punch_seconds = recipe.segments[1].start_frame / record.frame_rate


def change_live(session: Session, mixer: MixerState, master: MasterSettings) -> bool:
    """Steer the take that is streaming with ``mixer`` from its next chunk on; False when no
    steered take is streaming (then the caller renders again as usual)."""
    live = session.live
    if live is None:
        return False
    live.change(session.interventions(mixer, master), mixer.to_dict())
    return True


def _parent_take(
    session: Session, parent: TakeRecord, cancel: CancelToken | None
) -> tuple[Take, Recipe]:
    """The parent's codes, audio and recipe (rendered again from its mixer when the codes are
    not in memory, e.g. after reopening a project)."""
    if parent.codes is not None and parent.recipe is not None and parent.steered is not None:
        from musae_core.models.base import Take

        audio = parent.steered[None]
        request = parent.recipe.request
        model_id = session._loaded_model().model_id
        take = Take(audio, parent.sample_rate, parent.codes, request, model_id)
        return take, parent.recipe
    request = parent.master.request()
    ivs = session.interventions(parent.mixer, parent.master)
    recipe = Recipe(request, [Segment(0, ivs, mixer=parent.mixer.to_dict())])
    return render_recipe(session.model, recipe, None, cancel), recipe


def punch_take(
    session: Session,
    parent: TakeRecord,
    seconds: float,
    mixer: MixerState | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> TakeRecord:
    """Re-render ``parent`` from ``seconds`` on with ``mixer`` (default: the current one)."""
    from musae_core.models.residual import capture_residual
    from musae_core.render import take_metadata

    if session.model is None:
        raise MusaeError("No model is loaded, so nothing can be punched in.", "open a model.")
    mixer = mixer if mixer is not None else session.mixer
    started = time.perf_counter()
    with session._lock:
        check(cancel)
        take, recipe = _parent_take(session, parent, cancel)
        interventions = session.interventions(mixer, parent.master)
        layers = [session.sae.cfg.layer] if session.sae is not None and interventions else []
        n_frames = take.codes.shape[-1]
        with capture_residual(session.model, layers) as rec:
            new, new_recipe = punch_in(
                session.model, take, recipe, seconds, interventions, progress, cancel
            )
        new_recipe.segments[-1].mixer = mixer.to_dict()
        residual = rec.activations(layers[0], n_frames)[0] if layers else None
        steered = np.ascontiguousarray(new.audio[0], np.float32)
        before = np.ascontiguousarray(take.audio[0], np.float32)
        record = TakeRecord(
            take_id=session._next_id,
            master=parent.master,
            mixer=mixer,
            sample_rate=session.model.sample_rate,
            frame_rate=session.model.frame_rate,
            steered=steered,
            unsteered=before,
            gains=matched_gains(before, steered),
            activations=session._lanes(residual, mixer.features()),
            parent_id=parent.take_id,
            punch_seconds=new_recipe.punch_frame / session.model.frame_rate,
        )
        record.codes, record.recipe = new.codes, new_recipe
        record.metadata = take_metadata(session.model, new)
        record.metadata["recipe"] = new_recipe.to_dict(session.model.frame_rate)
        record.metadata["parent_take_id"] = parent.take_id
        record.render_seconds = time.perf_counter() - started
        session._next_id += 1
    session.project.takes.append(record)
    return record
