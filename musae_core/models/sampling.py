"""How the next token is chosen: the one ``SamplingSettings`` every generation path holds, and
the step itself (CFG mixing, temperature, top-k / top-p, sampling).

Uses transformers' logits warpers so the filtering matches what ``model.generate`` does.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from musae_core.errors import MusaeError

if TYPE_CHECKING:
    from transformers import LogitsProcessorList


@dataclass(frozen=True)
class SamplingSettings:
    """How each token is drawn, separate from what is generated (prompts, duration, seed).

    The one declaration of these four knobs: a generation request, the master section, harvest
    generation settings and the steering evaluations each hold one. In JSON (project files, take
    sidecars, harvest stores) the four keys sit flat beside their owner's keys, as they always
    have, so files written before this class existed load unchanged; a missing key takes its
    default.
    """

    temperature: float = 1.0  # 0 means greedy
    top_k: int = 250  # 0 turns top-k off
    top_p: float = 0.0  # 0 (or 1) turns nucleus sampling off
    cfg_scale: float = 3.0  # classifier-free guidance; 1 (or less) turns it off

    def __post_init__(self) -> None:
        for name in ("temperature", "top_p", "cfg_scale"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise _bad(name, value)
            object.__setattr__(self, name, float(value))  # JSON may hold 1 for 1.0
        if isinstance(self.top_k, bool) or not isinstance(self.top_k, numbers.Integral):
            raise _bad("top_k", self.top_k)
        object.__setattr__(self, "top_k", int(self.top_k))
        if not (math.isfinite(self.temperature) and self.temperature >= 0):
            raise _bad("temperature", self.temperature)
        if self.top_k < 0:
            raise _bad("top_k", self.top_k)
        if not 0.0 <= self.top_p <= 1.0:
            raise _bad("top_p", self.top_p)
        if not (math.isfinite(self.cfg_scale) and self.cfg_scale >= 0):
            raise _bad("cfg_scale", self.cfg_scale)

    @property
    def greedy(self) -> bool:
        """Temperature 0: always the most likely token (top-k / top-p do not matter)."""
        return self.temperature <= 0

    @property
    def uses_cfg(self) -> bool:
        """Whether the batch carries an unconditional half to guide with."""
        return self.cfg_scale > 1.0

    def replace(self, **changes: Any) -> SamplingSettings:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The four keys, flat (merged into the owner's JSON object)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SamplingSettings:
        """The settings from an owner's JSON object: other keys are ignored, missing ones take
        their defaults (files written before a key existed, e.g. top_p in the master section)."""
        return cls(**{name: data[name] for name in SAMPLING_FIELDS if name in data})


SAMPLING_FIELDS = tuple(f.name for f in dataclasses.fields(SamplingSettings))
RANGES = {
    "temperature": ("a number >= 0 (0 means greedy)", "use e.g. 1.0"),
    "top_k": ("a whole number >= 0 (0 turns top-k off)", "use e.g. 250"),
    "top_p": ("a number from 0 to 1 (0 or 1 turn top-p off)", "use e.g. 0.9, or 0 for off"),
    "cfg_scale": ("a number >= 0 (1 turns guidance off)", "use e.g. 3.0"),
}


def _bad(name: str, value: object) -> MusaeError:
    allowed, fix = RANGES[name]
    return MusaeError(f"Sampling setting {name} must be {allowed}, got {value!r}.", f"{fix}.")


class NonFiniteLogits(MusaeError):
    """The model produced inf/NaN logits: sampling from them is meaningless (and torch would
    fail with a bare traceback). Callers that know the steering recipe re-raise it naming it."""

    def __init__(self) -> None:
        super().__init__(
            "The model produced non-finite (inf/NaN) logits, so no token can be chosen.",
            "lower the steering strengths (or check the model's weights and dtype).",
        )


def build_warpers(sampling: SamplingSettings) -> LogitsProcessorList:
    """The warpers for these settings; an empty list means greedy decoding (temperature 0)."""
    from transformers import (
        LogitsProcessorList,
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )

    warpers = LogitsProcessorList()
    if sampling.greedy:
        return warpers
    if sampling.temperature != 1.0:
        warpers.append(TemperatureLogitsWarper(sampling.temperature))
    if sampling.top_k > 0:
        warpers.append(TopKLogitsWarper(top_k=sampling.top_k, min_tokens_to_keep=1))
    if 0.0 < sampling.top_p < 1.0:
        warpers.append(TopPLogitsWarper(top_p=sampling.top_p, min_tokens_to_keep=1))
    return warpers


def mix_cfg(logits: torch.Tensor, batch: int, scale: float) -> torch.Tensor:
    """Classifier-free guidance on raw logits: rows [0, batch) conditional, the rest null."""
    if logits.shape[0] == batch:
        return logits
    cond, uncond = logits[:batch], logits[batch:]
    return uncond + (cond - uncond) * scale


def _unusable(flat: torch.Tensor) -> bool:
    """NaN or +inf anywhere, or a row with no finite logit (-inf alone is a legitimate mask).

    One host sync per decoding step; it turns a blown-up pass into a clear error instead of
    torch's "probability tensor contains either inf, nan or element < 0" traceback.
    """
    broken = torch.isnan(flat).any() | torch.isposinf(flat).any()
    return bool(broken | ~torch.isfinite(flat).any(dim=-1).all())


def choose_tokens(logits: torch.Tensor, warpers: LogitsProcessorList, greedy: bool) -> torch.Tensor:
    """(B, K, V) float logits -> (B, K) token ids."""
    b, k, v = logits.shape
    flat = logits.reshape(b * k, v).float()
    if _unusable(flat):
        raise NonFiniteLogits()
    if greedy:
        return flat.argmax(dim=-1).reshape(b, k)
    scores = warpers(None, flat)  # type: ignore[arg-type]  # warpers never read input_ids
    probs = torch.softmax(scores, dim=-1)
    return torch.multinomial(probs, num_samples=1).reshape(b, k)
