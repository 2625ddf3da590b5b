"""Initialisation helpers: the geometric median that the decoder bias starts at."""

from __future__ import annotations

import torch


def geometric_median(points: torch.Tensor, iterations: int = 30, eps: float = 1e-6) -> torch.Tensor:
    """Weiszfeld's algorithm: robust centre of the activation cloud (outliers barely move it)."""
    median = points.mean(0)
    for _ in range(iterations):
        distances = (points - median).norm(dim=1).clamp_min(eps)
        weights = 1.0 / distances
        new = (points * weights[:, None]).sum(0) / weights.sum()
        if (new - median).norm() < eps * (1 + median.norm()):
            return new
        median = new
    return median
