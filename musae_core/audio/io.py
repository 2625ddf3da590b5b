"""Load audio for the model (mono, model rate) and write takes as WAV plus a JSON sidecar."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr

from musae_core.errors import MusaeError
from musae_core.fileio import atomic_path, write_json_atomic

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".opus", ".mp3", ".aiff", ".aif")


def load_audio(path: str | os.PathLike[str], sample_rate: int) -> np.ndarray:
    """Read any soundfile-readable file as mono float32 at ``sample_rate``.

    Raises ``MusaeError`` naming the file for unreadable, empty or non-finite audio.
    """
    path = Path(path)
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise MusaeError(
            f"Cannot read audio file {path}: {exc}.",
            "check the file is a valid WAV/FLAC/OGG/MP3 or remove it from the collection.",
        ) from exc
    if data.shape[0] == 0:
        raise MusaeError(f"Audio file {path} is empty.", "remove it or replace it with real audio.")
    if not np.isfinite(data).all():
        raise MusaeError(f"Audio file {path} contains NaN or inf samples.", "re-export the file.")
    mono = data.mean(axis=1)
    if rate != sample_rate:
        mono = soxr.resample(mono, rate, sample_rate, quality="HQ").astype(np.float32)
    return np.ascontiguousarray(mono, dtype=np.float32)


def read_blocks(
    path: str | os.PathLike[str], sample_rate: int, block_seconds: float = 10.0
) -> Iterator[np.ndarray]:
    """Yield a file as mono float32 blocks at ``sample_rate``, decoded and resampled a block
    at a time, so memory does not grow with the file's length (``load_audio`` reads it whole).

    Raises ``MusaeError`` naming the file for unreadable, empty or non-finite audio (possibly
    after some blocks were yielded: a file can be damaged part way through).
    """
    path = Path(path)
    try:
        with sf.SoundFile(str(path)) as file:
            rate = file.samplerate
            stream = None
            if rate != sample_rate:
                stream = soxr.ResampleStream(rate, sample_rate, 1, dtype="float32", quality="HQ")
            frames = max(1, round(block_seconds * rate))
            total = 0
            while True:
                data = file.read(frames, dtype="float32", always_2d=True)
                total += len(data)
                last = len(data) < frames
                if not np.isfinite(data).all():
                    raise MusaeError(
                        f"Audio file {path} contains NaN or inf samples.", "re-export the file."
                    )
                mono = data.mean(axis=1, dtype=np.float32)
                if stream is not None:
                    mono = stream.resample_chunk(mono, last=last)
                if len(mono):
                    yield np.ascontiguousarray(mono, dtype=np.float32)
                if last:
                    break
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise MusaeError(
            f"Cannot read audio file {path}: {exc}.",
            "check the file is a valid WAV/FLAC/OGG/MP3 or remove it from the collection.",
        ) from exc
    if total == 0:
        raise MusaeError(f"Audio file {path} is empty.", "remove it or replace it with real audio.")


def write_wav(
    path: str | os.PathLike[str],
    audio: np.ndarray,
    sample_rate: int,
    subtype: str = "PCM_16",
) -> Path:
    """Write (channels, samples) or (samples,) audio atomically; clips to [-1, 1] for PCM."""
    path = Path(path)
    if path.suffix.lower() not in (".wav", ".flac"):
        raise MusaeError(f"Cannot write {path}: unsupported extension.", "use .wav or .flac.")
    frames = np.asarray(audio, dtype=np.float32)
    frames = frames.T if frames.ndim == 2 else frames[:, None]
    if not np.isfinite(frames).all():
        raise MusaeError(f"Refusing to write {path}: the audio has NaN/inf samples.", "re-render.")
    if subtype.startswith("PCM"):
        frames = np.clip(frames, -1.0, 1.0)
    fmt = "WAV" if path.suffix.lower() == ".wav" else "FLAC"
    with atomic_path(path) as tmp:
        sf.write(str(tmp), frames, sample_rate, subtype=subtype, format=fmt)
    return path


def sidecar_path(audio_path: str | os.PathLike[str]) -> Path:
    """The JSON sidecar that sits beside an exported take."""
    return Path(audio_path).with_suffix(".json")


def write_take_files(
    path: str | os.PathLike[str], audio: np.ndarray, sample_rate: int, metadata: dict[str, Any]
) -> tuple[Path, Path]:
    """Write a take and its sidecar; on failure neither file is left half-written."""
    wav = write_wav(path, audio, sample_rate)
    meta = sidecar_path(wav)
    try:
        write_json_atomic(meta, metadata)
    except BaseException:
        wav.unlink(missing_ok=True)
        raise
    return wav, meta
