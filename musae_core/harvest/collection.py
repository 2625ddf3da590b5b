"""What gets harvested: audio files from a folder or list file, their captions, clips, prompts.

The file order is sorted and the clip cutting is a pure function of the file's length, so every
run (and every rank) sees the same clips in the same order; that is what makes resume and the
split across ranks simple.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from musae_core.audio.io import AUDIO_SUFFIXES, read_blocks
from musae_core.errors import MusaeError


@dataclass(frozen=True)
class SourceFile:
    """One audio file: ``path`` is absolute (the store's key), ``name`` is as the user knows it."""

    path: Path
    name: str

    @property
    def key(self) -> str:
        return str(self.path)


@dataclass(frozen=True)
class ClipSpan:
    """Clip ``clip_index`` of a file: samples [start, stop)."""

    clip_index: int
    start: int
    stop: int


def list_audio_files(source: str | os.PathLike[str]) -> list[SourceFile]:
    """Audio files under a folder (recursive), in a list file (one path a line), or one file."""
    source = Path(source).expanduser()
    if source.is_dir():
        files = [
            p
            for p in source.rglob("*")
            if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file() and not p.name.startswith(".")
        ]
        found = [SourceFile(p.resolve(), p.relative_to(source).as_posix()) for p in files]
    elif source.is_file() and source.suffix.lower() in AUDIO_SUFFIXES:
        found = [SourceFile(source.resolve(), source.name)]
    elif source.is_file():
        found = []
        for line in source.read_text().splitlines():
            entry = line.strip()
            if not entry or entry.startswith("#"):
                continue
            path = Path(entry).expanduser()
            path = path if path.is_absolute() else source.parent / path
            found.append(SourceFile(path.resolve(), entry))
    else:
        raise MusaeError(
            f"Audio collection {source} does not exist.",
            "pass a folder of audio files or a text file listing one audio path per line.",
        )
    unique = {f.key: f for f in sorted(found, key=lambda f: (f.name, f.key))}
    if not unique:
        raise MusaeError(
            f"No audio files found in {source}.",
            f"use a folder or list with {', '.join(AUDIO_SUFFIXES)} files.",
        )
    return sorted(unique.values(), key=lambda f: (f.name, f.key))


def load_captions(path: str | os.PathLike[str]) -> dict[str, str]:
    """A captions file: JSON ``{file: caption}`` or list of records, or CSV with a header."""
    path = Path(path)
    fix = (
        'use JSON {"file.wav": "caption", ...} or a CSV with columns file,caption '
        "(musae demo corpora ship captions.json)."
    )
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MusaeError(f"Cannot read captions file {path}: {exc}.", fix) from exc
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
            records = list(data.items()) if isinstance(data, dict) else _record_pairs(data)
        else:
            records = _record_pairs(list(csv.DictReader(text.splitlines())))
        captions = {str(k): str(v) for k, v in records}
    except (ValueError, KeyError, TypeError, AttributeError, csv.Error) as exc:
        raise MusaeError(f"Captions file {path} is not in a known layout ({exc}).", fix) from exc
    if not captions:
        raise MusaeError(f"Captions file {path} has no captions.", fix)
    return captions


def _record_pairs(records: list) -> list[tuple[str, str]]:
    pairs = []
    for rec in records:
        file = next(rec[k] for k in ("file", "path", "filename", "name") if k in rec)
        caption = next(rec[k] for k in ("caption", "text", "description") if k in rec)
        pairs.append((file, caption))
    return pairs


def caption_for(captions: dict[str, str], source: SourceFile) -> str | None:
    """Match a caption by listed name, file name or stem (in that order)."""
    for key in (source.name, source.path.name, source.path.stem, source.key):
        if key in captions:
            return captions[key]
    return None


def clip_spans(
    n_samples: int, sample_rate: int, clip_seconds: float, min_clip_seconds: float
) -> list[ClipSpan]:
    """Consecutive clips of ``clip_seconds``; a shorter tail is kept if >= ``min_clip_seconds``."""
    length = round(clip_seconds * sample_rate)
    minimum = max(1, round(min(min_clip_seconds, clip_seconds) * sample_rate))
    spans = []
    for index in range(math.ceil(n_samples / length)):
        start = index * length
        stop = min(n_samples, start + length)
        if stop - start >= minimum:
            spans.append(ClipSpan(index, start, stop))
    return spans


def rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if audio.size else 0.0


@dataclass
class FileReading:
    """What reading one file found, filled in as its clips are read."""

    samples: int = 0
    sum_squares: float = 0.0
    problem: str = ""
    """'' when the file read to its end, else 'empty' or 'corrupt: reason'."""

    @property
    def rms(self) -> float:
        return math.sqrt(self.sum_squares / self.samples) if self.samples else 0.0


def read_clips(
    source: SourceFile,
    sample_rate: int,
    clip_seconds: float,
    min_clip_seconds: float,
    reading: FileReading | None = None,
) -> Iterator[tuple[ClipSpan, np.ndarray]]:
    """The clips of a file as ``clip_spans`` cuts them, decoded block by block: memory holds
    about one block and one clip, whatever the file's length. A bad file ends the iteration
    and sets ``reading.problem`` (clips before a damaged spot have already been yielded).
    """
    reading = reading if reading is not None else FileReading()
    length = round(clip_seconds * sample_rate)
    minimum = max(1, round(min(min_clip_seconds, clip_seconds) * sample_rate))
    pending: list[np.ndarray] = []
    held, index = 0, 0
    try:
        for block in read_blocks(source.path, sample_rate, block_seconds=clip_seconds):
            reading.samples += len(block)
            reading.sum_squares += float(np.square(block, dtype=np.float64).sum())
            pending.append(block)
            held += len(block)
            while held >= length:
                joined = np.concatenate(pending)
                start = index * length
                yield ClipSpan(index, start, start + length), joined[:length]
                pending, held, index = [joined[length:]], held - length, index + 1
    except MusaeError as exc:
        reading.problem = "empty" if "is empty" in exc.problem else f"corrupt: {exc.problem}"
        return
    if held >= minimum:
        start = index * length
        yield ClipSpan(index, start, start + held), np.concatenate(pending)


def read_prompts(path: str | os.PathLike[str]) -> list[str]:
    """Prompts for harvesting generations: a JSON list, or one prompt a line ('#' comments)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MusaeError(f"Cannot read prompts file {path}: {exc}.", "check the path.") from exc
    if path.suffix.lower() == ".json":
        try:
            prompts = [str(p) for p in json.loads(text)]
        except (ValueError, TypeError) as exc:
            raise MusaeError(
                f"Prompts file {path} is not a JSON list of strings.", 'use ["prompt", ...].'
            ) from exc
    else:
        lines = (line.strip() for line in text.splitlines())
        prompts = [line for line in lines if line and not line.startswith("#")]
    if not prompts:
        raise MusaeError(f"Prompts file {path} has no prompts.", "write one prompt per line.")
    return prompts
