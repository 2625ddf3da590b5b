"""Helpers for the labelling tests: synthetic audio, top clips over it, and readers of a real
``FeatureDB`` (the ``labelling_db`` fixture in conftest.py builds one per test).
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import numpy as np
import soundfile as sf

from musae_core.features import FeatureDB, Label, TopClip

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


def all_labels(db: FeatureDB) -> list[Label]:
    """Every label stored in ``db``, feature by feature, oldest first."""
    return [label for row in db.query() for label in db.labels(row.id)]


def stored_text(db: FeatureDB) -> str:
    """The whole database file as SQL text (to search it for secrets)."""
    with contextlib.closing(sqlite3.connect(db.path)) as conn:
        return "\n".join(conn.iterdump())


def write_wav(path: Path, audio: np.ndarray, sr: int = SR) -> str:
    sf.write(str(path), audio, sr)
    return str(path)


def clips_from_audio(folder: Path, name: str, audios: list[np.ndarray]) -> list[TopClip]:
    """Each array becomes one source file and one TopClip covering all of it."""
    clips = []
    for rank, audio in enumerate(audios, start=1):
        path = write_wav(folder / f"{name}_{rank}.wav", audio)
        clips.append(
            TopClip(rank, path, 0.0, len(audio) / SR, mean_activation=1.0, peak_activation=1.0)
        )
    return clips
