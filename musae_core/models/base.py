"""The ``MusicModel`` interface every backend implements, and the records it exchanges.

The rest of the engine (harvesting, SAEs, steering, the app) only talks to this interface, so a
transformers MusicGen, an audiocraft checkpoint or the embedded demo model are interchangeable.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np
import torch
from torch import nn

from musae_core.jobs import CancelToken, ProgressFn
from musae_core.models.sampling import SamplingSettings


class CfgBranch(str, Enum):
    """Which classifier-free-guidance half of the batch an intervention touches."""

    BOTH = "both"
    CONDITIONAL = "conditional"
    UNCONDITIONAL = "unconditional"


@dataclass(frozen=True)
class GenerationRequest:
    """Everything that determines a take; with the same request and seed a CPU take is bit-exact."""

    prompts: tuple[str, ...] = ("",)
    duration: float = 5.0
    seed: int = 0
    variants: int = 1
    sampling: SamplingSettings = field(default_factory=SamplingSettings)

    def __post_init__(self) -> None:
        from musae_core.errors import MusaeError

        if not self.prompts:
            raise MusaeError("A generation request needs at least one prompt.", "pass --prompt.")
        if self.variants < 1:
            raise MusaeError(f"variants must be >= 1, got {self.variants}.", "use --variants 1.")

    def to_dict(self) -> dict[str, Any]:
        """The sidecar form: the sampling keys flat beside prompts, duration, seed, variants."""
        own = {"prompts": list(self.prompts), "duration": self.duration, "seed": self.seed}
        return {**own, "variants": self.variants, **self.sampling.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenerationRequest:
        """A sidecar's request; sampling keys it predates take their defaults."""
        known = {k: data[k] for k in ("duration", "seed", "variants") if k in data}
        prompts = tuple(data.get("prompts", ("",)))
        return cls(prompts=prompts, sampling=SamplingSettings.from_dict(data), **known)

    @property
    def batch_size(self) -> int:
        return len(self.prompts) * self.variants

    def batch_prompts(self) -> list[str]:
        """Prompts in batch order: each prompt repeated ``variants`` times."""
        return [p for p in self.prompts for _ in range(self.variants)]


@dataclass
class Take:
    """Generated audio and the codes behind it. ``audio`` is (batch, channels, samples) float32."""

    audio: np.ndarray
    sample_rate: int
    codes: np.ndarray
    request: GenerationRequest
    model_id: str
    seconds: float = 0.0
    steering: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ForwardContext:
    """What a residual hook needs to know about the forward pass it is running inside.

    ``positions`` (a CPU tensor, so hooks never wait on the GPU) are decoder positions of the
    current chunk; position ``t >= 0`` maps to audio frame ``t`` (see ``frame_times``); negative
    positions hold a conditioning prefix (MusicGen-Melody). ``conditional_rows`` is the number
    of leading batch rows that belong to the conditional CFG branch (all rows when CFG is off).
    """

    positions: torch.Tensor
    conditional_rows: int
    cfg: bool
    frame_rate: float


@dataclass
class TeacherForcedOutput:
    """Result of a teacher-forced pass: mean cross-entropy per item over valid (frame, codebook)."""

    loss: torch.Tensor
    n_frames: int


class MusicModel(abc.ABC):
    """A codebook-delayed autoregressive music model with hookable residual stream."""

    model_id: str
    sample_rate: int
    frame_rate: float
    num_layers: int
    d_model: int
    num_codebooks: int
    audio_channels: int
    max_duration: float
    device: torch.device
    dtype: torch.dtype

    def __init__(self) -> None:
        self._context: ForwardContext | None = None

    # --- residual stream -------------------------------------------------------------------
    @abc.abstractmethod
    def residual_module(self, layer: int) -> nn.Module:
        """The module whose output is the residual stream after block ``layer`` (0-based)."""

    def hook_points(self) -> list[str]:
        """Hook names in TransformerLens/SAELens style, one per layer."""
        return [hook_name(i) for i in range(self.num_layers)]

    def check_layer(self, layer: int) -> int:
        from musae_core.errors import MusaeError

        if not isinstance(layer, int) or not 0 <= layer < self.num_layers:
            raise MusaeError(
                f"Layer {layer!r} does not exist in {self.model_id} ({self.num_layers} layers).",
                f"use a layer index from 0 to {self.num_layers - 1}.",
            )
        return layer

    @property
    def forward_context(self) -> ForwardContext | None:
        """The context of the forward pass in flight, read by hooks; None outside passes."""
        return self._context

    @contextlib.contextmanager
    def _in_context(self, ctx: ForwardContext) -> Iterator[None]:
        previous, self._context = self._context, ctx
        try:
            yield
        finally:
            self._context = previous

    def check_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes (batch, codebooks, frames) as int64 on this model's device; codes from a
        codec with another number of codebooks are refused."""
        from musae_core.errors import MusaeError

        if codes.shape[1] != self.num_codebooks:
            raise MusaeError(
                f"Codes have {codes.shape[1]} codebooks but {self.model_id} uses "
                f"{self.num_codebooks}.",
                "encode the audio with this model's codec.",
            )
        return codes.to(self.device).long()

    def n_frames_for(self, duration: float) -> int:
        """Frames for ``duration`` seconds; a clear error outside (0, max_duration]."""
        from musae_core.errors import MusaeError

        if not duration > 0:
            raise MusaeError(
                f"Duration must be positive, got {duration}.", "use e.g. --duration 5."
            )
        if duration > self.max_duration + 1e-9:
            raise MusaeError(
                f"Duration {duration} s exceeds {self.model_id}'s limit of "
                f"{self.max_duration:g} s.",
                f"use a duration up to {self.max_duration:g} s.",
            )
        return max(1, round(duration * self.frame_rate))

    def frame_times(self, n_frames: int) -> np.ndarray:
        """Start time in seconds of each residual vector's audio frame."""
        return np.arange(n_frames, dtype=np.float64) / self.frame_rate

    # --- audio <-> codes ------------------------------------------------------------------
    @abc.abstractmethod
    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        """Mono audio (batch, samples) at ``sample_rate`` -> codes (batch, codebooks, frames)."""

    @abc.abstractmethod
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes (batch, codebooks, frames) -> audio (batch, channels, samples)."""

    # --- language model -------------------------------------------------------------------
    @abc.abstractmethod
    def generate(
        self,
        request: GenerationRequest,
        progress: ProgressFn | None = None,
        cancel: CancelToken | None = None,
    ) -> Take:
        """Sample a take; reports (step, steps) and stops promptly when ``cancel`` is set."""

    @abc.abstractmethod
    def teacher_force(
        self, codes: torch.Tensor, texts: list[str] | None = None
    ) -> TeacherForcedOutput:
        """Run the LM over known codes (unconditional when ``texts`` is None)."""


def hook_name(layer: int) -> str:
    """The SAELens/TransformerLens name of the residual stream after block ``layer``."""
    return f"blocks.{layer}.hook_resid_post"


def layer_from_hook_name(name: str) -> int:
    """Inverse of ``hook_name``; accepts a bare integer string too."""
    from musae_core.errors import MusaeError

    parts = name.split(".")
    if name.isdigit():
        return int(name)
    if len(parts) == 3 and parts[0] == "blocks" and parts[1].isdigit():
        return int(parts[1])
    raise MusaeError(
        f"Unknown hook point {name!r}.", "use 'blocks.N.hook_resid_post' or a layer number."
    )
