"""Strength over time (automation): a piecewise-linear gain curve evaluated per audio frame."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from musae_core.errors import MusaeError


@dataclass(frozen=True)
class Envelope:
    """Breakpoints ``(seconds, gain)``; linear between them, held flat before and after."""

    points: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        if not self.points:
            raise MusaeError("An envelope needs at least one point.", "add a (time, gain) point.")
        times = [t for t, _ in self.points]
        if any(b < a for a, b in itertools.pairwise(times)):
            raise MusaeError("Envelope times must be increasing.", "sort the points by time.")
        if not np.all(np.isfinite(np.asarray(self.points, dtype=np.float64))):
            raise MusaeError("Envelope points must be finite numbers.", "remove NaN/inf values.")

    def gains(self, positions: torch.Tensor, frame_rate: float) -> torch.Tensor:
        """Gain at each decoder position (position t is audio time t / frame_rate)."""
        times = positions.detach().cpu().double().numpy() / frame_rate
        xs = np.array([t for t, _ in self.points])
        ys = np.array([g for _, g in self.points])
        return torch.from_numpy(np.interp(times, xs, ys)).to(positions.device)

    def to_dict(self) -> dict[str, Any]:
        return {"points": [list(p) for p in self.points]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Envelope:
        return cls(tuple((float(t), float(g)) for t, g in data["points"]))
