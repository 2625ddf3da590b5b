"""The master section: the generation settings shared by the unsteered and steered takes."""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from typing import Any

from musae_core.errors import MusaeError
from musae_core.models.base import CfgBranch, GenerationRequest


@dataclass(frozen=True)
class MasterSettings:
    """Prompt, duration, seed (locked or re-rolled per render), sampling and the steered branch."""

    prompt: str = "simple melody"
    duration: float = 5.0
    seed: int = 1
    seed_locked: bool = True
    temperature: float = 1.0
    top_k: int = 250
    cfg_scale: float = 3.0
    steer_branch: str = CfgBranch.BOTH.value

    def __post_init__(self) -> None:
        CfgBranch(self.steer_branch)
        if not self.duration > 0:
            raise MusaeError(f"Duration must be positive, got {self.duration}.", "use e.g. 5.")

    def request(self) -> GenerationRequest:
        return GenerationRequest(
            prompts=(self.prompt,),
            duration=self.duration,
            seed=self.seed,
            temperature=self.temperature,
            top_k=self.top_k,
            cfg_scale=self.cfg_scale,
        )

    def next_seed(self, rng: random.Random | None = None) -> MasterSettings:
        """The settings for the next render: same seed when locked, a fresh one otherwise."""
        if self.seed_locked:
            return self
        return dataclasses.replace(self, seed=(rng or random.Random()).randrange(2**31))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MasterSettings:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
