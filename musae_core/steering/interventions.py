"""Interventions on one layer's residual stream: the paper's additive steering and its relatives.

Each intervention returns the change it makes to the hidden states; ``steer`` sums the changes
of all interventions on a layer, so several features compose without order effects.
"""

from __future__ import annotations

import abc
import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from musae_core.errors import MusaeError
from musae_core.models.base import CfgBranch
from musae_core.steering.envelope import Envelope


def validated_direction(
    vector: npt.ArrayLike, d_model: int | None = None, what: str = "direction"
) -> torch.Tensor:
    """Check a steering vector is 1-D, finite and of the model's width; return it as float32."""
    tensor = torch.as_tensor(np.asarray(vector, dtype=np.float32))
    if tensor.ndim != 1:
        raise MusaeError(
            f"The {what} must be a 1-D vector, got shape {tuple(tensor.shape)}.",
            "save a single vector of length d_model.",
        )
    if d_model is not None and tensor.shape[0] != d_model:
        raise MusaeError(
            f"The {what} has {tensor.shape[0]} dimensions but the model's residual stream has "
            f"{d_model}.",
            "use a vector made for this model (same d_model).",
        )
    if not torch.isfinite(tensor).all():
        raise MusaeError(f"The {what} contains NaN or inf values.", "recompute or clean it.")
    return tensor


@dataclass
class Intervention(abc.ABC):
    """A change to the residual stream after block ``layer`` along ``direction``."""

    layer: int
    direction: torch.Tensor
    branch: CfgBranch = CfgBranch.BOTH
    envelope: Envelope | None = None
    source: dict[str, Any] = field(default_factory=dict)
    _cache: dict[tuple[torch.device, torch.dtype], torch.Tensor] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        self.direction = validated_direction(self.direction)
        self.branch = CfgBranch(self.branch)

    @property
    @abc.abstractmethod
    def active(self) -> bool:
        """False when the intervention cannot change anything (e.g. strength 0)."""

    @abc.abstractmethod
    def delta(self, hidden: torch.Tensor) -> torch.Tensor:
        """The change at full strength, broadcastable to ``hidden`` (batch, positions, d)."""

    def params(self) -> dict[str, Any]:
        """The scalar settings, for the reproducibility sidecar."""
        return {}

    def on(self, like: torch.Tensor) -> torch.Tensor:
        """The direction on ``like``'s device and dtype (cached per device/dtype)."""
        key = (like.device, like.dtype)
        if key not in self._cache:
            self._cache[key] = self.direction.to(device=like.device, dtype=like.dtype)
        return self._cache[key]

    def unit(self, like: torch.Tensor) -> torch.Tensor:
        d = self.on(like)
        unit: torch.Tensor = d / d.norm().clamp_min(torch.finfo(d.dtype).tiny)
        return unit

    def to_dict(self) -> dict[str, Any]:
        digest = hashlib.sha256(self.direction.numpy().tobytes()).hexdigest()[:16]
        return {
            "kind": type(self).__name__,
            "layer": self.layer,
            "branch": self.branch.value,
            "envelope": self.envelope.to_dict() if self.envelope else None,
            "direction_sha256_16": digest,
            "direction_norm": float(self.direction.norm()),
            "source": dict(self.source),
            **self.params(),
        }


@dataclass
class AddDirection(Intervention):
    """x' = x + alpha * beta * direction: the paper's form (beta: e.g. max activation)."""

    alpha: float = 1.0
    beta: float = 1.0

    @property
    def active(self) -> bool:
        return self.alpha * self.beta != 0.0

    def delta(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.on(hidden) * (self.alpha * self.beta)

    def params(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "beta": self.beta}


@dataclass
class RelativeAdd(Intervention):
    """x' = x + alpha * |x| * unit(direction): strength relative to each position's norm."""

    alpha: float = 0.1

    @property
    def active(self) -> bool:
        return self.alpha != 0.0

    def delta(self, hidden: torch.Tensor) -> torch.Tensor:
        delta: torch.Tensor = hidden.norm(dim=-1, keepdim=True) * self.unit(hidden) * self.alpha
        return delta

    def params(self) -> dict[str, Any]:
        return {"alpha": self.alpha}


@dataclass
class ClampDirection(Intervention):
    """Set the coefficient of x along unit(direction) to ``value`` at every position."""

    value: float = 0.0

    @property
    def active(self) -> bool:
        return True

    def delta(self, hidden: torch.Tensor) -> torch.Tensor:
        u = self.unit(hidden)
        coefficient = (hidden * u).sum(dim=-1, keepdim=True)
        return (self.value - coefficient) * u

    def params(self) -> dict[str, Any]:
        return {"value": self.value}
