"""The steering mixer's state: immutable channel strips, so undo is just keeping old states."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

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

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["envelope"] = [list(p) for p in self.envelope]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Channel:
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

    def update(self, feature: int, **changes) -> MixerState:
        i = self.index(feature)
        new = dataclasses.replace(self.channels[i], **changes)
        return MixerState((*self.channels[:i], new, *self.channels[i + 1 :]))

    def audible(self) -> list[Channel]:
        """Channels that steer: soloed ones if any solo is on, else all unmuted ones."""
        soloed = [c for c in self.channels if c.solo and not c.mute]
        if any(c.solo for c in self.channels):
            return soloed
        return [c for c in self.channels if not c.mute]

    def to_dict(self) -> dict:
        return {"channels": [c.to_dict() for c in self.channels]}

    @classmethod
    def from_dict(cls, data: dict) -> MixerState:
        return cls(tuple(Channel.from_dict(c) for c in data.get("channels", ())))
