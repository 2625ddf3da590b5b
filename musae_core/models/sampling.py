"""Next-token choice for one decoding step: CFG mixing, temperature, top-k / top-p, sampling.

Uses transformers' logits warpers so the filtering matches what ``model.generate`` does.
"""

from __future__ import annotations

import torch
from transformers import (
    LogitsProcessorList,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from musae_core.errors import MusaeError


class NonFiniteLogits(MusaeError):
    """The model produced inf/NaN logits: sampling from them is meaningless (and torch would
    fail with a bare traceback). Callers that know the steering recipe re-raise it naming it."""

    def __init__(self) -> None:
        super().__init__(
            "The model produced non-finite (inf/NaN) logits, so no token can be chosen.",
            "lower the steering strengths (or check the model's weights and dtype).",
        )


def build_warpers(temperature: float, top_k: int, top_p: float) -> LogitsProcessorList:
    """The warpers for a request; an empty list means greedy decoding (temperature 0)."""
    warpers = LogitsProcessorList()
    if temperature <= 0:
        return warpers
    if temperature != 1.0:
        warpers.append(TemperatureLogitsWarper(temperature))
    if top_k > 0:
        warpers.append(TopKLogitsWarper(top_k=top_k, min_tokens_to_keep=1))
    if 0.0 < top_p < 1.0:
        warpers.append(TopPLogitsWarper(top_p=top_p, min_tokens_to_keep=1))
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
