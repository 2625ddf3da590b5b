"""Per-frame concept truth for demo-corpus clips, re-derived from each clip's seed.

Clip ``i`` of a corpus is a pure function of (seed, i) (``corpus.render_clip``), so its MIDI can
be composed again and read note by note: which pitches sound in each frame, where notes and drum
hits start, which chord holds. This is the scorecard's fallback truth until a corpus records its
own (``musae demo score --truth``); the concept names follow ``musae_core.features.concepts``:

- clip-level factor values, true on every frame of the clip: ``instrument=piano``,
  ``mode=minor``, ``tempo_band=fast``, ``register=high``, ``dynamics=soft``, ``drums=true``;
- ``pitch=61`` / ``pitch_class=C#``: a (non-drum) note of that pitch / class sounds;
- ``onset``: a non-drum note starts in the frame or the one before;
- ``drum=kick|snare|hat``: that drum is hit in the frame or the one before;
- ``chord=C:maj``: the bar's chord (root and quality of its triad) holds.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

import mido
import numpy as np

from musae_core.demo.composer import DRUM_HAT, DRUM_KICK, DRUM_SNARE, compose
from musae_core.demo.factor_classifier import FACTORS, factor_labels
from musae_core.demo.factors import NOTE_NAMES, sample_factors
from musae_core.errors import MusaeError
from musae_core.features.concepts import ConceptTruth

DRUMS = {DRUM_KICK: "kick", DRUM_SNARE: "snare", DRUM_HAT: "hat"}
QUALITIES = {(4, 7): "maj", (3, 7): "min", (3, 6): "dim"}
ONSET_FRAMES = 2  # an onset marks its frame and the next: rendering is not frame-exact


def midi_notes(midi: mido.MidiFile) -> list[tuple[float, float, int, int]]:
    """(start s, end s, pitch, channel) of every note."""
    t, open_notes, notes = 0.0, {}, []
    for msg in midi:  # iterating a MidiFile yields delta times in seconds
        t += msg.time
        if msg.type == "note_on" and msg.velocity > 0:
            open_notes[(msg.note, msg.channel)] = t
        elif msg.type in ("note_on", "note_off") and (msg.note, msg.channel) in open_notes:
            notes.append((open_notes.pop((msg.note, msg.channel)), t, msg.note, msg.channel))
    return notes


def note_concepts(notes, n_frames: int, frame_rate: float, beat_seconds: float) -> dict:
    """Concept name -> bool (n_frames,) for the fine (within-clip) concepts."""
    out: dict[str, np.ndarray] = {}

    def mark(name: str, lo: int, hi: int) -> None:
        column = out.setdefault(name, np.zeros(n_frames, bool))
        column[max(0, lo) : max(0, min(n_frames, hi))] = True

    chords: dict[float, list[int]] = {}
    for start, end, pitch, channel in notes:
        first, last = int(start * frame_rate), int(np.ceil(end * frame_rate))
        if channel == 9:
            if pitch in DRUMS:
                mark(f"drum={DRUMS[pitch]}", first, first + ONSET_FRAMES)
            continue
        mark(f"pitch={pitch}", first, last)
        mark(f"pitch_class={NOTE_NAMES[pitch % 12]}", first, last)
        mark("onset", first, first + ONSET_FRAMES)
        if end - start >= 3 * beat_seconds:  # the composer's chords last a bar
            chords.setdefault(start, []).append(pitch)
    for start, pitches in chords.items():
        pitches = sorted(pitches)
        shape = tuple(p - pitches[0] for p in pitches[1:])
        if len(pitches) == 3 and shape in QUALITIES:
            end = start + 4 * beat_seconds
            mark(f"chord={NOTE_NAMES[pitches[0] % 12]}:{QUALITIES[shape]}",
                 int(start * frame_rate), int(np.ceil(end * frame_rate)))  # fmt: skip
    return out


def clip_concepts(record: dict, seed: int, clip_seconds: float, n_frames: int,
                  frame_rate: float) -> dict[str, np.ndarray]:  # fmt: skip
    """Every concept column of one clip, checked against its factor record."""
    index = int(record["clip"])
    rng = random.Random(f"{seed}:{index}")
    factors = sample_factors(rng)
    if factors.to_dict()["caption"] != record["caption"]:
        raise MusaeError(
            f"Clip {record['clip']} does not re-derive from seed {seed} (its factors differ).",
            "score with --truth from a corpus that records its per-frame truth.",
        )
    notes = midi_notes(compose(factors, clip_seconds, rng))
    columns = note_concepts(notes, n_frames, frame_rate, 60.0 / factors.bpm)
    for factor in FACTORS:
        columns[f"{factor}={factor_labels(record, factor)}"] = np.ones(n_frames, bool)
    return columns


def corpus_truth(
    records_by_source: dict[int, dict],
    frames_by_source: dict[int, np.ndarray],
    seed: int,
    clip_seconds: float,
    frame_rate: float,
    sources: Iterable[int],
    lag: int = 0,
) -> ConceptTruth:
    """Truth rows for ``sources`` in order, each clip's rows at ``frames_by_source`` frames;
    row frame ``f`` gets the truth of audio frame ``f - lag`` (false before the clip starts)."""
    sources = list(sources)
    per_clip, names = [], set()
    for s in sources:
        frames = np.asarray(frames_by_source[s], dtype=np.int64)
        n = int(frames.max()) + 1 if len(frames) else 0
        cols = clip_concepts(records_by_source[s], seed, clip_seconds, n, frame_rate)
        per_clip.append((cols, frames))
        names |= set(cols)
    ordered = sorted(names, key=_concept_order)
    column = {name: i for i, name in enumerate(ordered)}
    total = sum(len(f) for _, f in per_clip)
    truth = np.zeros((total, len(ordered)), bool)
    row = 0
    for cols, frames in per_clip:
        source = frames - lag
        inside = (source >= 0) & (source < n)
        for name, values in cols.items():
            truth[row : row + len(frames), column[name]] = (
                values[np.clip(source, 0, n - 1)] & inside
            )
        row += len(frames)
    lengths = [len(f) for _, f in per_clip]
    clip_ids = np.repeat(np.asarray(sources, np.int64), lengths)
    frame_index = np.concatenate([f for _, f in per_clip])
    return ConceptTruth(ordered, truth, clip_ids, frame_index, frame_rate)


def _concept_order(name: str) -> tuple:
    kind, _, value = name.partition("=")
    kinds = (*FACTORS, "chord", "pitch_class", "pitch", "onset", "drum")
    rank = kinds.index(kind) if kind in kinds else len(kinds)
    return (rank, int(value) if value.isdigit() else 0, value)
