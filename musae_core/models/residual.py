"""Scoped hooks on the residual stream (TransformerLens style: they always remove themselves).

``residual_hooks`` is the one place that registers forward hooks; steering and activation
capture are both built on it, so no code path can leave a hook behind after an exception.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import torch

from musae_core.models.base import ForwardContext, MusicModel

ResidualFn = Callable[[torch.Tensor, ForwardContext], torch.Tensor | None]
"""Receives (batch, positions, d_model) hidden states; returns a replacement or None."""


@contextlib.contextmanager
def residual_hooks(
    model: MusicModel, fns: Mapping[int, list[ResidualFn]], prepend: bool = False
) -> Iterator[None]:
    """Install ``fns[layer]`` on the residual stream after each block, for the ``with`` body;
    ``prepend`` runs them before hooks installed earlier (steering before a capture)."""
    handles = []

    def make_hook(layer_fns: list[ResidualFn]):
        def hook(module, args, output):
            ctx = model.forward_context
            if ctx is None:  # a forward pass that musae did not start: leave it alone
                return None
            hidden = output[0] if isinstance(output, tuple) else output
            changed = False
            for fn in layer_fns:
                result = fn(hidden, ctx)
                if result is not None:
                    hidden, changed = result, True
            if not changed:
                return None
            return (hidden, *output[1:]) if isinstance(output, tuple) else hidden

        return hook

    try:
        for layer, layer_fns in fns.items():
            module = model.residual_module(layer)
            hook = make_hook(list(layer_fns))
            handles.append(module.register_forward_hook(hook, prepend=prepend))
        yield
    finally:
        for handle in handles:
            handle.remove()


@dataclass
class ResidualRecording:
    """Residual vectors captured per layer, assembled by decoder position.

    ``activations(layer)`` returns (batch, frames, d_model) float32 on the CPU, frame ``t``
    being decoder position ``t``; with CFG only the conditional rows are kept.
    """

    chunks: dict[int, list[tuple[torch.Tensor, torch.Tensor]]] = field(default_factory=dict)

    def activations(self, layer: int, n_frames: int | None = None) -> torch.Tensor:
        parts = self.chunks.get(layer)
        if not parts:
            raise KeyError(f"layer {layer} was not captured")
        positions = torch.cat([p for p, _ in parts])
        values = torch.cat([v for _, v in parts], dim=1)
        order = torch.argsort(positions, stable=True)
        values = values[:, order]
        if n_frames is not None:
            values = values[:, :n_frames]
        return values


@contextlib.contextmanager
def capture_residual(
    model: MusicModel, layers: list[int], keep_unconditional: bool = False
) -> Iterator[ResidualRecording]:
    """Record the residual stream at ``layers`` for every musae forward pass in the body."""
    recording = ResidualRecording()

    def make_fn(layer: int) -> ResidualFn:
        def fn(hidden: torch.Tensor, ctx: ForwardContext) -> None:
            rows = hidden if keep_unconditional else hidden[: ctx.conditional_rows]
            frames = ctx.positions >= 0  # negative positions hold conditioning, not audio
            if not bool(frames.all()):
                rows = rows[:, frames]
            chunk = (ctx.positions[frames].detach().cpu(), rows.detach().float().cpu())
            recording.chunks.setdefault(layer, []).append(chunk)
            return None

        return fn

    fns = {model.check_layer(layer): [make_fn(layer)] for layer in layers}
    with residual_hooks(model, fns):
        yield recording
