"""Steering: add, norm-relative add and clamp directions in the residual stream."""

from musae_core.steering.context import steer
from musae_core.steering.envelope import Envelope
from musae_core.steering.interventions import (
    AddDirection,
    ClampDirection,
    Intervention,
    RelativeAdd,
)

__all__ = ["AddDirection", "ClampDirection", "Envelope", "Intervention", "RelativeAdd", "steer"]
