"""``steer(model, interventions)``: the scoped context manager that applies interventions."""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Iterator, Sequence

import torch

from musae_core.models.base import CfgBranch, ForwardContext, MusicModel
from musae_core.models.residual import ResidualFn, residual_hooks
from musae_core.steering.interventions import Intervention, validated_direction


def _row_mask(branch: CfgBranch, hidden: torch.Tensor, ctx: ForwardContext) -> torch.Tensor | None:
    """(batch, 1, 1) mask of the rows a branch touches, or None for all rows."""
    if branch is CfgBranch.BOTH:
        return None
    rows = torch.arange(hidden.shape[0], device=hidden.device) < ctx.conditional_rows
    if branch is CfgBranch.UNCONDITIONAL:
        rows = ~rows
    return rows.to(hidden.dtype)[:, None, None]


def _layer_fn(interventions: list[Intervention]) -> ResidualFn:
    def fn(hidden: torch.Tensor, ctx: ForwardContext) -> torch.Tensor | None:
        total = None
        for iv in interventions:
            if not iv.active:
                continue
            change = iv.delta(hidden)
            if iv.envelope is not None:
                gains = iv.envelope.gains(ctx.positions, ctx.frame_rate)
                gains = gains.to(device=hidden.device, dtype=hidden.dtype)
                change = change * gains[None, :, None]
            mask = _row_mask(iv.branch, hidden, ctx)
            if mask is not None:
                change = change * mask
            if bool((ctx.positions < 0).any()):  # conditioning prefix: leave it alone
                frames = (ctx.positions >= 0).to(device=hidden.device, dtype=hidden.dtype)
                change = change * frames[None, :, None]
            total = change if total is None else total + change
        return None if total is None else hidden + total

    return fn


@contextlib.contextmanager
def steer(model: MusicModel, interventions: Sequence[Intervention]) -> Iterator[None]:
    """Apply ``interventions`` to every musae forward pass inside the ``with`` body.

    Hooks stay installed for interventions at strength 0 (a mixer channel at zero) but leave
    the hidden states untouched, so such a take is bit-identical to a plain one.
    """
    by_layer: dict[int, list[Intervention]] = defaultdict(list)
    for iv in interventions:
        model.check_layer(iv.layer)
        validated_direction(iv.direction, model.d_model)
        by_layer[iv.layer].append(iv)
    fns = {layer: [_layer_fn(ivs)] for layer, ivs in by_layer.items()}
    with residual_hooks(model, fns):
        yield
