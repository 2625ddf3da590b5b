"""The steering mixer's state: immutable channel strips, so undo is just keeping old states."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from musae_core.errors import MusaeError

MODES = ("add", "clamp")


@dataclass(frozen=True)
class Channel:
    """One steered feature: strength (alpha), mode, mute/solo and an optional envelope."""

    feature: int
    strength: float = 0.0
    mode: str = "add"
    mute: bool = False
    solo: bool = False
    envelope: tuple[tuple[float, float], ...] = ()
    label: str = ""

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise MusaeError(f"Unknown steering mode {self.mode!r}.", "use add or clamp.")

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["envelope"] = [list(p) for p in self.envelope]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Channel:
        return cls(
            feature=int(data["feature"]),
            strength=float(data.get("strength", 0.0)),
            mode=str(data.get("mode", "add")),
            mute=bool(data.get("mute", False)),
            solo=bool(data.get("solo", False)),
            envelope=tuple((float(t), float(g)) for t, g in data.get("envelope", ())),
            label=str(data.get("label", "")),
        )


@dataclass(frozen=True)
class MixerState:
    """All channel strips, in strip order; every edit returns a new state."""

    channels: tuple[Channel, ...] = ()

    def features(self) -> list[int]:
        return [c.feature for c in self.channels]

    def index(self, feature: int) -> int:
        for i, channel in enumerate(self.channels):
            if channel.feature == feature:
                return i
        raise MusaeError(f"Feature {feature} is not in the mixer.", "add it first.")

    def channel(self, feature: int) -> Channel:
        return self.channels[self.index(feature)]

    def add(self, feature: int, label: str = "", strength: float = 0.0) -> MixerState:
        """Add a strip; adding a feature twice is a no-op (one strip per feature)."""
        if feature in self.features():
            return self
        return MixerState((*self.channels, Channel(int(feature), strength, label=label)))

    def remove(self, feature: int) -> MixerState:
        i = self.index(feature)
        return MixerState(self.channels[:i] + self.channels[i + 1 :])

    def update(self, feature: int, **changes: Any) -> MixerState:
        i = self.index(feature)
        new = dataclasses.replace(self.channels[i], **changes)
        return MixerState((*self.channels[:i], new, *self.channels[i + 1 :]))

    def audible(self) -> list[Channel]:
        """Channels that steer: soloed ones if any solo is on, else all unmuted ones."""
        soloed = [c for c in self.channels if c.solo and not c.mute]
        if any(c.solo for c in self.channels):
            return soloed
        return [c for c in self.channels if not c.mute]

    def to_dict(self) -> dict[str, Any]:
        return {"channels": [c.to_dict() for c in self.channels]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MixerState:
        return cls(tuple(Channel.from_dict(c) for c in data.get("channels", ())))


# --- strength envelopes: (seconds, gain) points kept sorted by time --------------------------
Points = tuple[tuple[float, float], ...]
GAIN_RANGE = (0.0, 1.0)


def _gain(gain: float) -> float:
    return round(min(GAIN_RANGE[1], max(GAIN_RANGE[0], float(gain))), 4)


def default_envelope(duration: float) -> Points:
    """A flat full-strength envelope over the take: audibly the same as no envelope."""
    return ((0.0, 1.0), (round(max(float(duration), 0.01), 4), 1.0))


def add_point(points: Points, seconds: float, gain: float) -> tuple[Points, int]:
    """Insert a point in time order; returns the new points and the new point's index."""
    point = (round(max(0.0, float(seconds)), 4), _gain(gain))
    index = sum(1 for t, _ in points if t <= point[0])
    return (*points[:index], point, *points[index:]), index


def move_point(points: Points, index: int, seconds: float, gain: float) -> Points:
    """Move one point; its time stays between its neighbours so the order never changes."""
    low = points[index - 1][0] if index > 0 else 0.0
    high = points[index + 1][0] if index + 1 < len(points) else float("inf")
    t = round(min(high, max(low, float(seconds))), 4)
    return (*points[:index], (t, _gain(gain)), *points[index + 1 :])


def remove_point(points: Points, index: int) -> Points:
    """Drop one point; removing the last one leaves no envelope (constant strength)."""
    return (*points[:index], *points[index + 1 :])
