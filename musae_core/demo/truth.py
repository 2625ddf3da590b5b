"""Per-frame truth of the demo corpus: what the score says sounds in every 20 ms frame.

Each clip's notes come from ``compose_notes`` (a pure function of the corpus seed and the clip
index), so the truth is recorded beside the audio when a clip renders and can be re-derived for
an old corpus without rendering anything (``musae demo derive-truth``).

Alignment: truth row ``t`` describes time ``t / frame_rate`` from the clip start, the centre of
the demo codec's frame ``t`` (centred STFT, 320-sample hop at 16 kHz) and so the activation
store's row with ``frame == t``. A note sounds in frame ``t`` when its MIDI on-interval contains
that time; an onset or drum hit falls in the frame whose centre is nearest to it. FluidSynth's
file renderer starts notes on their sample (measured in tests/test_demo_truth.py).

Stored per clip as ``clips/NNNNNN.truth.npz`` (compressed; a few kB): ``role`` uint8 (F, 128)
bit 1 melody / bit 2 chord tone, ``onset`` bool (F, 128), ``drums`` bool (F, 3) kick/snare/hat,
``chord_root`` int8 (F,) pitch class or -1, ``chord_quality`` int8 (F,) index into QUALITIES.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import mido
import numpy as np

from musae_core.demo.composer import (
    DRUM_HAT,
    DRUM_KICK,
    DRUM_SNARE,
    TICKS,
    Note,
    compose_notes,
)
from musae_core.demo.corpus_spec import clip_name, load_spec
from musae_core.demo.factors import NOTE_NAMES, ClipFactors, sample_factors
from musae_core.errors import MusaeError
from musae_core.fileio import atomic_path
from musae_core.jobs import CancelToken, ProgressFn, check, no_progress

FRAME_RATE = 50.0  # the demo codec's frames per second
DRUM_KINDS = ("kick", "snare", "hat")
DRUM_PITCHES = {DRUM_KICK: 0, DRUM_SNARE: 1, DRUM_HAT: 2}
QUALITIES = ("maj", "min", "dim", "aug")
MELODY, CHORD = 1, 2
TRUTH_SUFFIX = ".truth.npz"


@dataclass
class ClipTruth:
    """Per-frame truth of one clip (see the module docstring for the arrays)."""

    role: np.ndarray
    onset: np.ndarray
    drums: np.ndarray
    chord_root: np.ndarray
    chord_quality: np.ndarray

    @property
    def n_frames(self) -> int:
        return len(self.role)

    def arrays(self) -> dict[str, np.ndarray]:
        return dict(
            role=self.role,
            onset=self.onset,
            drums=self.drums,
            chord_root=self.chord_root,
            chord_quality=self.chord_quality,
        )

    def equals(self, other: ClipTruth) -> bool:
        mine, theirs = self.arrays(), other.arrays()
        return all(np.array_equal(mine[k], theirs[k]) for k in mine)


def clip_truth(
    notes: list[Note], bpm: int, seconds: float, frame_rate: float = FRAME_RATE
) -> ClipTruth:
    """The per-frame truth of ``notes`` played at ``bpm`` over a clip of ``seconds``."""
    n_frames = round(seconds * frame_rate)
    seconds_per_tick = mido.bpm2tempo(bpm) / 1e6 / TICKS  # the tempo the MIDI file carries
    centres = np.arange(n_frames) / frame_rate
    truth = ClipTruth(
        role=np.zeros((n_frames, 128), np.uint8),
        onset=np.zeros((n_frames, 128), bool),
        drums=np.zeros((n_frames, len(DRUM_KINDS)), bool),
        chord_root=np.full(n_frames, -1, np.int8),
        chord_quality=np.full(n_frames, -1, np.int8),
    )
    for note in notes:
        start = note.start * seconds_per_tick
        end = (note.start + note.length) * seconds_per_tick
        hit = round(start * frame_rate)
        if note.role == "drum":
            if hit < n_frames:
                truth.drums[hit, DRUM_PITCHES[note.pitch]] = True
            continue
        sounding = (centres >= start) & (centres < end)
        truth.role[sounding, note.pitch] |= MELODY if note.role == "melody" else CHORD
        if hit < n_frames:
            truth.onset[hit, note.pitch] = True
        if note.role == "chord":
            truth.chord_root[sounding] = note.chord_root
            truth.chord_quality[sounding] = QUALITIES.index(note.chord_quality)
    return truth


def derive_clip(
    seed: int, index: int, seconds: float, frame_rate: float = FRAME_RATE
) -> tuple[ClipFactors, list[Note], ClipTruth]:
    """Clip ``index`` of a corpus with ``seed``: its factors, notes and truth (no audio)."""
    rng = random.Random(f"{seed}:{index}")  # the same stream corpus.render_clip draws from
    factors = sample_factors(rng)
    notes = compose_notes(factors, seconds, rng)
    return factors, notes, clip_truth(notes, factors.bpm, seconds, frame_rate)


def truth_path(clips: Path, name: str) -> Path:
    return clips / f"{name}{TRUTH_SUFFIX}"


def save_clip_truth(path: Path, truth: ClipTruth) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, allow_pickle=False, **truth.arrays())


def load_clip_truth(path: Path) -> ClipTruth:
    if not path.exists():
        raise MusaeError(
            f"{path} is missing.",
            "re-derive the truth with `musae demo derive-truth --corpus DIR`.",
        )
    with np.load(path) as data:
        return ClipTruth(**{k: data[k] for k in ClipTruth.__dataclass_fields__})


def derive_corpus_truth(
    corpus: str | Path,
    overwrite: bool = False,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> int:
    """Write the truth of every clip of ``corpus`` that lacks it (no audio); returns how many."""
    progress = progress or no_progress
    spec = load_spec(corpus)
    clips = Path(corpus) / "clips"
    written = 0
    for index in range(spec.n_clips):
        check(cancel)
        path = truth_path(clips, clip_name(index))
        if overwrite or not path.exists():
            _, _, truth = derive_clip(spec.seed, index, spec.clip_seconds)
            save_clip_truth(path, truth)
            written += 1
        progress(index + 1, spec.n_clips)
    return written


def pitch_name(pitch_class: int) -> str:
    return NOTE_NAMES[pitch_class % 12]
