"""Helpers for the labelling tests: synthetic audio and an in-memory stand-in for FeatureDB.

``MemoryFeatureDB`` implements the slice of ``musae_core.features.db.FeatureDB`` the labelling
jobs use, storing evidence through a JSON round trip like a real database would.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 32_000


def harmonic_tone(midi: float, seconds: float = 2.0, sr: int = SR) -> np.ndarray:
    """A decaying tone with four harmonics at MIDI pitch ``midi``."""
    t = np.arange(int(sr * seconds)) / sr
    f0 = 440.0 * 2 ** ((midi - 69) / 12)
    tone = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 5))
    return (0.2 * tone * np.exp(-0.4 * t)).astype(np.float32)


def click_track(bpm: float, seconds: float = 4.0, sr: int = SR, seed: int = 0) -> np.ndarray:
    """Noise bursts on every beat at ``bpm``."""
    rng = np.random.default_rng(seed)
    audio = np.zeros(int(sr * seconds), np.float32)
    burst = int(0.01 * sr)
    envelope = np.exp(-np.arange(burst) / 200.0)
    for start in np.arange(0.0, seconds, 60.0 / bpm):
        i = int(start * sr)
        n = len(audio[i : i + burst])
        audio[i : i + n] += rng.normal(size=n).astype(np.float32) * envelope[:n] * 0.3
    return audio


@dataclass
class TopClip:
    rank: int
    source_path: str
    clip_start: float
    clip_seconds: float
    mean_activation: float = 1.0
    peak_activation: float = 1.0
    timeline: list = field(default_factory=list)
    best_window: tuple = (0.0, 1.0)
    snippet_path: Path | None = None


@dataclass
class Label:
    id: int
    feature_id: int
    source: str
    text: str
    score: float
    evidence: dict
    description: str = ""
    clap_score: float | None = None
    auroc: float | None = None


@dataclass
class Row:
    id: int


class MemoryFeatureDB:
    """Features -> top clips in memory; labels, errors and done marks recorded like a DB."""

    def __init__(self, clips: dict[int, list[TopClip]]) -> None:
        self.clips = clips
        self.label_rows: list[Label] = []
        self.errors: list[tuple[int, str, str]] = []
        self.done_marks: set[tuple[int, str]] = set()
        self.top_clip_calls: list[int] = []

    def meta(self) -> dict:
        return {"model_id": "tiny", "layer": 2, "sample_rate": SR}

    def feature_count(self) -> int:
        return len(self.clips)

    def query(self, **_filters) -> list[Row]:
        return [Row(i) for i in sorted(self.clips)]

    def top_clips(self, feature_id: int, by: str = "mean") -> list[TopClip]:
        self.top_clip_calls.append(feature_id)
        return list(self.clips[feature_id])

    def add_label(self, feature_id, source, text, score, evidence, description="",
                  clap_score=None) -> int:  # fmt: skip
        evidence = json.loads(json.dumps(evidence, allow_nan=False))
        label = Label(len(self.label_rows) + 1, feature_id, source, text, float(score),
                      evidence, description, clap_score)  # fmt: skip
        self.label_rows.append(label)
        return label.id

    def labels(self, feature_id: int) -> list[Label]:
        return [row for row in self.label_rows if row.feature_id == feature_id]

    def set_label_validation(self, label_id: int, clap_score, auroc) -> None:
        row = self.label_rows[label_id - 1]
        row.clap_score, row.auroc = clap_score, auroc

    def record_error(self, feature_id: int, job: str, message: str) -> None:
        self.errors.append((feature_id, job, message))

    def done(self, feature_id: int, job: str) -> bool:
        return (feature_id, job) in self.done_marks

    def mark_done(self, feature_id: int, job: str) -> None:
        self.done_marks.add((feature_id, job))

    def dump(self) -> str:
        """Everything stored, as text (to search for secrets)."""
        return json.dumps(
            [vars(r) for r in self.label_rows] + [list(e) for e in self.errors], default=str
        )


def write_wav(path: Path, audio: np.ndarray, sr: int = SR) -> str:
    sf.write(str(path), audio, sr)
    return str(path)


def clips_from_audio(folder: Path, name: str, audios: list[np.ndarray]) -> list[TopClip]:
    """Each array becomes one source file and one TopClip covering all of it."""
    clips = []
    for rank, audio in enumerate(audios, start=1):
        path = write_wav(folder / f"{name}_{rank}.wav", audio)
        clips.append(TopClip(rank, path, 0.0, len(audio) / SR))
    return clips


class SteeringDB(MemoryFeatureDB):
    """Adds the steering record of FeatureDB."""

    def __init__(self, clips) -> None:
        super().__init__(clips)
        self.steering: dict[int, tuple] = {}

    def set_steering(self, feature_id, steers, effect, evidence) -> None:
        json.dumps(evidence, allow_nan=False)
        self.steering[feature_id] = (steers, effect, evidence)
