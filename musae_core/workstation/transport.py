"""How the user left the transport (A/B side, loop, auto-render), saved with the project.

The GUI's live copies (``TransportState``, ``Workbench.auto_render``) are written here before a
save and read back when the project opens, so a reopened project sounds the way it was left.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SIDES = ("steered", "unsteered")


@dataclass(frozen=True)
class TransportPrefs:
    ab: str = "steered"
    loop: bool = False
    loop_region: tuple[float, float] | None = None  # seconds
    auto_render: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "ab": self.ab,
            "loop": self.loop,
            "loop_region": list(self.loop_region) if self.loop_region else None,
            "auto_render": self.auto_render,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> TransportPrefs:
        """Lenient: a missing or odd value falls back to its default (older projects have none)."""
        data = data if isinstance(data, dict) else {}
        region = data.get("loop_region") or ()  # None: no loop region
        try:
            start, end = (float(v) for v in region)
            loop_region = (min(start, end), max(start, end))
        except (TypeError, ValueError):
            loop_region = None
        ab = data.get("ab")
        return cls(
            ab=ab if ab in SIDES else "steered",
            loop=bool(data.get("loop", False)),
            loop_region=loop_region,
            auto_render=bool(data.get("auto_render", True)),
        )
