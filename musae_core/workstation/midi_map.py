"""MIDI learn mappings: which hardware control drives which knob, as plain project data.

A mapping binds one control (port, channel, CC number / pitch bend / note) to one target, a
mixer strip's strength (``feature:ID``) or a master control (``master:NAME``), and maps the
control's raw range linearly onto the target's range. No MIDI I/O here (see ``midi_input``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from musae_core.errors import MusaeError

KINDS = ("cc", "pitchbend", "note")
RAW_RANGE = {"cc": (0, 127), "note": (0, 127), "pitchbend": (-8192, 8191)}
MASTER_TARGETS = ("temperature", "top_k", "top_p", "cfg_scale", "duration")
SECTION_VERSION = 1  # of the project's "midi" section; a project without it has no mappings


@dataclass(frozen=True)
class MidiEvent:
    """One incoming control value, already decoded: what a mapping matches and reads."""

    port: str
    channel: int
    kind: str
    number: int  # CC or note number; 0 for pitch bend
    value: int  # raw: 0..127, or -8192..8191 for pitch bend

    def source(self) -> tuple[str, int, int]:
        return self.kind, self.channel, self.number


def event_from_mido(message: Any, port: str = "") -> MidiEvent | None:
    """A mido message as a ``MidiEvent``; None for messages no knob can follow (clock, ...)."""
    kind = getattr(message, "type", "")
    if kind == "control_change":
        return MidiEvent(port, message.channel, "cc", message.control, message.value)
    if kind == "pitchwheel":
        return MidiEvent(port, message.channel, "pitchbend", 0, message.pitch)
    if kind == "note_on":
        return MidiEvent(port, message.channel, "note", message.note, message.velocity)
    return None


def feature_target(feature: int) -> str:
    return f"feature:{int(feature)}"


def master_target(name: str) -> str:
    if name not in MASTER_TARGETS:
        raise MusaeError(
            f"{name!r} is not a MIDI-mappable master control.",
            f"use one of {', '.join(MASTER_TARGETS)}.",
        )
    return f"master:{name}"


@dataclass(frozen=True)
class MidiMapping:
    """One learned binding; ``port`` "" matches any input port."""

    kind: str
    channel: int
    number: int
    target: str
    minimum: float
    maximum: float
    port: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise MusaeError(
                f"Unknown MIDI control kind {self.kind!r} in a MIDI mapping.",
                f"use one of {', '.join(KINDS)}.",
            )
        scope, _, name = self.target.partition(":")
        if scope == "feature" and name.lstrip("-").isdigit():
            return
        if scope == "master" and name in MASTER_TARGETS:
            return
        raise MusaeError(
            f"Unknown MIDI mapping target {self.target!r}.",
            "use feature:ID or master:NAME (e.g. master:cfg_scale).",
        )

    @classmethod
    def learn(cls, event: MidiEvent, target: str, minimum: float, maximum: float) -> MidiMapping:
        return cls(event.kind, event.channel, event.number, target, minimum, maximum, event.port)

    def matches(self, event: MidiEvent) -> bool:
        return event.source() == (self.kind, self.channel, self.number) and (
            not self.port or self.port == event.port
        )

    def value(self, raw: int) -> float:
        """Raw control value -> target value, linear; the raw range's ends give the range's ends."""
        low, high = RAW_RANGE[self.kind]
        share = (min(high, max(low, raw)) - low) / (high - low)
        return self.minimum + share * (self.maximum - self.minimum)

    @property
    def feature(self) -> int | None:
        scope, _, name = self.target.partition(":")
        return int(name) if scope == "feature" else None

    @property
    def master(self) -> str | None:
        scope, _, name = self.target.partition(":")
        return name if scope == "master" else None

    def describe(self) -> str:
        control = "pitch bend" if self.kind == "pitchbend" else f"{self.kind.upper()} {self.number}"
        port = self.port or "any input"
        return f"{control}, channel {self.channel + 1}, {port}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "port": self.port,
            "channel": self.channel,
            "kind": self.kind,
            "number": self.number,
            "target": self.target,
            "min": self.minimum,
            "max": self.maximum,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MidiMapping:
        try:
            return cls(
                kind=str(data["kind"]),
                channel=int(data.get("channel", 0)),
                number=int(data.get("number", 0)),
                target=str(data["target"]),
                minimum=float(data["min"]),
                maximum=float(data["max"]),
                port=str(data.get("port", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise MusaeError(
                f"A MIDI mapping in the project is incomplete: {data!r} ({exc}).",
                "remove it from the project's midi section.",
            ) from exc


Mappings = tuple[MidiMapping, ...]


def bind(mappings: Mappings, new: MidiMapping) -> Mappings:
    """Add ``new``; a target has one control and a control drives one target, so both go."""
    kept = tuple(m for m in mappings if m.target != new.target and not _same_source(m, new))
    return (*kept, new)


def forget(mappings: Mappings, target: str) -> Mappings:
    return tuple(m for m in mappings if m.target != target)


def _same_source(a: MidiMapping, b: MidiMapping) -> bool:
    return (a.kind, a.channel, a.number) == (b.kind, b.channel, b.number) and (
        not a.port or not b.port or a.port == b.port
    )


def mappings_to_section(mappings: Mappings) -> dict[str, Any]:
    return {"version": SECTION_VERSION, "mappings": [m.to_dict() for m in mappings]}


def mappings_from_section(section: dict[str, Any] | None) -> Mappings:
    """Read the project's midi section; projects saved before MIDI learn have none (no maps)."""
    if not section:
        return ()
    if int(section.get("version", 1)) > SECTION_VERSION:
        raise MusaeError(
            "The project's MIDI mappings were written by a newer musae.", "update musae to open it."
        )
    return tuple(MidiMapping.from_dict(m) for m in section.get("mappings", ()))
