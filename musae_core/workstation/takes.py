"""A rendered A/B pair (unsteered and steered, same seed) with loudness-matched gains."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from musae_core.fileio import atomic_path
from musae_core.workstation.master import MasterSettings
from musae_core.workstation.mixer import MixerState

if TYPE_CHECKING:
    from musae_core.punch.takes import Recipe

SILENCE_DB = -120.0
SIDES = ("unsteered", "steered")  # the two WAVs of a take; ``files`` may also hold LANES
LANES = "lanes"  # files key of the .npz with the activation lanes


def loudness_db(audio: np.ndarray) -> float:
    """RMS level in dBFS over all channels (a simple, robust loudness proxy for A/B)."""
    x = np.asarray(audio, dtype=np.float64)
    rms = float(np.sqrt(np.mean(x * x))) if x.size else 0.0
    return 20.0 * np.log10(rms) if rms > 1e-6 else SILENCE_DB


def matched_gains(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Linear gains that bring both takes to the quieter one's level (never boosts, so no clips).

    Takes are matched to each other, never peak-normalised separately, so A/B compares content.
    """
    la, lb = loudness_db(a), loudness_db(b)
    if SILENCE_DB in (la, lb):
        return 1.0, 1.0
    target = min(la, lb)
    return float(10 ** ((target - la) / 20)), float(10 ** ((target - lb) / 20))


@dataclass
class TakeRecord:
    """One render: both takes as (channels, samples) float32, the recipe and per-feature lanes.

    ``activations[feature]`` is the feature's SAE activation per frame on the steered take
    (``unsteered_activations`` on the unsteered one), for the arrangement's lanes.
    """

    take_id: int
    master: MasterSettings
    mixer: MixerState
    sample_rate: int
    frame_rate: float
    steered: np.ndarray | None = None
    unsteered: np.ndarray | None = None
    gains: tuple[float, float] = (1.0, 1.0)  # (unsteered, steered)
    activations: dict[int, np.ndarray] = field(default_factory=dict)
    unsteered_activations: dict[int, np.ndarray] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    render_seconds: float = 0.0
    files: dict[str, str] = field(default_factory=dict)  # SIDES -> wav, LANES -> npz path
    parent_id: int | None = None  # a punch-in take: the take it was punched into
    punch_seconds: float | None = None  # where its steering changes (punch-in or live knob)
    codes: np.ndarray | None = field(default=None, repr=False)  # in memory only, for punch-in
    recipe: Recipe | None = field(default=None, repr=False)  # in memory only

    @property
    def duration(self) -> float:
        audio = self.steered if self.steered is not None else self.unsteered
        return 0.0 if audio is None else audio.shape[-1] / self.sample_rate

    @property
    def loaded(self) -> bool:
        return self.steered is not None

    def audio(self, which: str) -> np.ndarray:
        """``'steered'`` or ``'unsteered'`` audio (channels, samples)."""
        audio = self.steered if which == "steered" else self.unsteered
        if audio is None:
            raise KeyError(f"take {self.take_id} has no {which} audio loaded")
        return audio

    def name(self) -> str:
        active = [f"#{c.feature}={c.strength:+.2f}" for c in self.mixer.audible() if c.strength]
        name = f"Take {self.take_id}: seed {self.master.seed} " + (" ".join(active) or "(flat)")
        if self.parent_id is not None:
            name += f" (punched into take {self.parent_id} at {self.punch_seconds:.2f} s)"
        elif self.punch_seconds is not None:
            name += f" (live change at {self.punch_seconds:.2f} s)"
        return name

    def to_entry(self) -> dict[str, Any]:
        """The project-file form: recipe and file paths, not audio."""
        return {
            "take_id": self.take_id,
            "master": self.master.to_dict(),
            "mixer": self.mixer.to_dict(),
            "sample_rate": self.sample_rate,
            "frame_rate": self.frame_rate,
            "gains": list(self.gains),
            "render_seconds": self.render_seconds,
            "files": dict(self.files),
            "parent_id": self.parent_id,
            "punch_seconds": self.punch_seconds,
        }

    @classmethod
    def from_entry(cls, data: dict[str, Any]) -> TakeRecord:
        return cls(
            take_id=int(data["take_id"]),
            master=MasterSettings.from_dict(data["master"]),
            mixer=MixerState.from_dict(data["mixer"]),
            sample_rate=int(data["sample_rate"]),
            frame_rate=float(data["frame_rate"]),
            gains=tuple(data.get("gains", (1.0, 1.0))),
            render_seconds=float(data.get("render_seconds", 0.0)),
            files=dict(data.get("files", {})),
            parent_id=data.get("parent_id"),
            punch_seconds=data.get("punch_seconds"),
        )

    def load_audio(self, base: Path | None = None) -> None:
        """Read the take's WAVs and activation lanes back (after a project was opened)."""
        import soundfile as sf

        for which, rel in self.files.items():
            path = Path(rel) if base is None or Path(rel).is_absolute() else base / rel
            if which == LANES:
                self.load_lanes(path)
            elif which in SIDES:
                data, _ = sf.read(str(path), dtype="float32", always_2d=True)
                setattr(self, which, np.ascontiguousarray(data.T))

    def save_lanes(self, path: Path) -> Path:
        """Write the activation lanes (both sides) as one .npz, atomically; returns the path."""
        arrays = {f"steered_{f}": v for f, v in self.activations.items()}
        arrays |= {f"unsteered_{f}": v for f, v in self.unsteered_activations.items()}
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(
                fh, allow_pickle=False, **{k: np.asarray(v, np.float32) for k, v in arrays.items()}
            )
        return Path(path)

    def load_lanes(self, path: Path) -> None:
        """Read lanes written by ``save_lanes`` (no pickles: plain float arrays only)."""
        with np.load(path, allow_pickle=False) as data:
            for key in data.files:
                side, _, feature = key.partition("_")
                lanes = self.activations if side == "steered" else self.unsteered_activations
                lanes[int(feature)] = np.array(data[key], np.float32)

    def replace(self, **changes: Any) -> TakeRecord:
        return dataclasses.replace(self, **changes)
