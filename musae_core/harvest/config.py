"""Settings of a harvest and the report it returns (merged over ranks)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from musae_core.errors import MusaeError
from musae_core.harvest.store import STORE_DTYPES
from musae_core.models.base import MusicModel
from musae_core.models.sampling import SamplingSettings


@dataclass(frozen=True)
class HarvestConfig:
    """How to cut, batch and store; ``shard_rows`` bounds memory (about two shards' worth)."""

    layers: tuple[int, ...]
    clip_seconds: float = 10.0
    min_clip_seconds: float = 1.0
    batch_size: int = 8
    shard_rows: int = 65_536
    dtype: str = "fp16"
    background_writes: bool = True
    silence_rms: float = 1e-5

    def validate(self, model: MusicModel) -> None:
        """Raise MusaeError for settings this model cannot honour, before any work starts."""
        if not self.layers:
            raise MusaeError("No layers to harvest.", "pass e.g. --layers 12,18.")
        if len(set(self.layers)) != len(self.layers):
            raise MusaeError(f"Layers {list(self.layers)} repeat.", "list each layer once.")
        for layer in self.layers:
            model.check_layer(layer)
        if self.dtype not in STORE_DTYPES:
            raise MusaeError(
                f"Unknown store dtype {self.dtype!r}.", f"use one of {', '.join(STORE_DTYPES)}."
            )
        if not 0 < self.clip_seconds <= model.max_duration:
            raise MusaeError(
                f"Clip length {self.clip_seconds} s is outside (0, {model.max_duration:g}] s "
                f"for {model.model_id}.",
                "use e.g. --clip-seconds 10.",
            )
        if not self.min_clip_seconds > 0:
            raise MusaeError("min_clip_seconds must be positive.", "use e.g. 1.0.")
        if self.batch_size < 1 or self.shard_rows < 1:
            raise MusaeError("batch size and shard rows must be >= 1.", "use e.g. 8 and 65536.")


@dataclass(frozen=True)
class GenerationSettings:
    """How each take is sampled when harvesting the model's own generations."""

    duration: float = 10.0
    seed: int = 0
    variants: int = 1
    sampling: SamplingSettings = field(default_factory=SamplingSettings)


@dataclass
class HarvestReport:
    """What a harvest did; files are named so the user can fix or drop them."""

    store: str
    rows: int = 0
    shards: int = 0
    clips: int = 0
    clips_resumed: int = 0
    clips_silent: int = 0
    files: int = 0
    files_empty: list[str] = field(default_factory=list)
    files_silent: list[str] = field(default_factory=list)
    files_too_short: list[str] = field(default_factory=list)
    files_corrupt: list[str] = field(default_factory=list)
    rows_nonfinite: int = 0
    seconds: float = 0.0
    world_size: int = 1
    unit: str = "file"

    @classmethod
    def merge(cls, reports: list[HarvestReport]) -> HarvestReport:
        """Sum per-rank reports; time is the slowest rank's."""
        total = cls(store=reports[0].store, world_size=len(reports), unit=reports[0].unit)
        for rep in reports:
            for f in dataclasses.fields(cls):
                if f.name in ("store", "world_size", "unit"):
                    continue
                mine, theirs = getattr(total, f.name), getattr(rep, f.name)
                if f.name == "seconds":
                    setattr(total, f.name, max(mine, theirs))
                else:
                    setattr(total, f.name, mine + theirs)
        return total

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def warnings(self) -> list[str]:
        """One line per kind of skipped input."""
        lines = []
        for label, names in (
            ("corrupt or unreadable", self.files_corrupt),
            ("empty", self.files_empty),
            ("silent", self.files_silent),
            ("shorter than the minimum clip", self.files_too_short),
        ):
            if names:
                shown = ", ".join(names[:10]) + (" ..." if len(names) > 10 else "")
                lines.append(f"skipped {len(names)} {label} file(s): {shown}")
        if self.clips_silent:
            lines.append(f"skipped {self.clips_silent} silent clip(s)")
        if self.rows_nonfinite:
            lines.append(f"dropped {self.rows_nonfinite} row(s) with NaN/inf activations")
        return lines

    def summary(self) -> str:
        return (
            f"{self.rows} rows in {self.shards} new shard(s) from {self.clips} clip(s) of "
            f"{self.files} {self.unit}(s) ({self.clips_resumed} clip(s) already in the store) in "
            f"{self.seconds:.1f} s ({self.rows_per_second:.0f} rows/s) -> {Path(self.store)}"
        )
