"""The master section: the generation settings shared by the unsteered and steered takes."""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass, field
from typing import Any

from musae_core.errors import MusaeError
from musae_core.models.base import CfgBranch, GenerationRequest
from musae_core.models.sampling import SAMPLING_FIELDS, SamplingSettings


@dataclass(frozen=True)
class MasterSettings:
    """Prompt, duration, seed (locked or re-rolled per render), sampling and the steered branch."""

    prompt: str = "simple melody"
    duration: float = 5.0
    seed: int = 1
    seed_locked: bool = True
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    steer_branch: str = CfgBranch.BOTH.value

    def __post_init__(self) -> None:
        CfgBranch(self.steer_branch)
        if not self.duration > 0:
            raise MusaeError(f"Duration must be positive, got {self.duration}.", "use e.g. 5.")

    def request(self) -> GenerationRequest:
        return GenerationRequest(
            prompts=(self.prompt,), duration=self.duration, seed=self.seed, sampling=self.sampling
        )

    def replace(self, **changes: Any) -> MasterSettings:
        """These settings with some changed; a sampling knob (``top_p=0.9``) may be named
        directly, as the master panel and MIDI mappings do."""
        knobs = {k: changes.pop(k) for k in SAMPLING_FIELDS if k in changes}
        if knobs:
            changes["sampling"] = changes.get("sampling", self.sampling).replace(**knobs)
        return dataclasses.replace(self, **changes)

    def next_seed(self, rng: random.Random | None = None) -> MasterSettings:
        """The settings for the next render: same seed when locked, a fresh one otherwise."""
        if self.seed_locked:
            return self
        return dataclasses.replace(self, seed=(rng or random.Random()).randrange(2**31))

    def to_dict(self) -> dict[str, Any]:
        """The project-file form: the sampling keys flat beside the others, as before."""
        own = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        sampling = own.pop("sampling")
        return {**own, **sampling.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MasterSettings:
        """Unknown keys are ignored; missing ones (top_p in files before it existed) default."""
        known = {f.name for f in dataclasses.fields(cls)} - {"sampling"}
        own = {k: v for k, v in data.items() if k in known}
        return cls(**own, sampling=SamplingSettings.from_dict(data))
