"""Compose a short piece for a set of factors: a diatonic progression, a melody and drums.

The music is simple on purpose: what matters is that key, mode, tempo, register, dynamics and
instrument are exactly what the factors say, so the corpus labels are true by construction.
``compose_notes`` also says what each note is (melody, chord tone or drum hit, and the chord it
belongs to), which is where the corpus's per-frame truth comes from (truth.py).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import mido

from musae_core.demo.factors import DYNAMICS, REGISTER_BANDS, ClipFactors

TICKS = 480  # ticks per beat
SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
PROGRESSIONS = {  # scale degrees (0-based) of chord roots
    "major": ((0, 3, 4, 0), (0, 5, 3, 4), (0, 4, 5, 3), (0, 3, 0, 4)),
    "minor": ((0, 3, 4, 0), (0, 5, 2, 6), (0, 3, 6, 4), (0, 5, 3, 4)),
}
DRUM_KICK, DRUM_SNARE, DRUM_HAT = 36, 38, 42
DRUM_CHANNEL = 9
TRIAD_QUALITIES = {(4, 7): "maj", (3, 7): "min", (3, 6): "dim", (4, 8): "aug"}


@dataclass(frozen=True)
class Note:
    """One composed note in ticks; ``role`` is "melody", "chord" or "drum"."""

    start: int
    length: int
    pitch: int
    velocity: int
    channel: int
    role: str
    chord_root: int = -1  # pitch class of the chord's root, chord tones only
    chord_quality: str = ""


def _scale_notes(factors: ClipFactors, low: int, high: int) -> list[int]:
    steps = SCALES[factors.mode]
    return [n for n in range(low, high + 1) if (n - factors.tonic) % 12 in steps]


def _triad(factors: ClipFactors, degree: int, around: int) -> list[int]:
    steps = SCALES[factors.mode]
    pcs = [(factors.tonic + steps[(degree + i) % 7]) % 12 for i in (0, 2, 4)]
    root = around - ((around - pcs[0]) % 12)
    return [root + ((pc - pcs[0]) % 12) for pc in pcs]


def triad_quality(pitches: list[int]) -> str:
    """The quality (maj, min, dim or aug) of a root-position triad."""
    return TRIAD_QUALITIES[(pitches[1] - pitches[0], pitches[2] - pitches[0])]


def compose_notes(factors: ClipFactors, seconds: float, rng: random.Random) -> list[Note]:
    """Every note of the piece for ``factors`` (the random draws are those of ``compose``)."""
    beats = max(4, int(seconds * factors.bpm / 60.0) + 1)
    centre = REGISTER_BANDS[factors.register]
    vel_low, vel_high = DYNAMICS[factors.dynamics]
    progression = rng.choice(PROGRESSIONS[factors.mode])
    melody_pool = _scale_notes(factors, centre - 7, centre + 9)
    notes: list[Note] = []
    current = min(melody_pool, key=lambda n: abs(n - centre))
    for beat in range(beats):
        bar, beat_in_bar = divmod(beat, 4)
        degree = progression[bar % len(progression)]
        if beat_in_bar == 0:  # chord: one bar, softer, an octave below the melody
            triad = _triad(factors, degree, centre - 12)
            quality = triad_quality(triad)
            for pitch in triad:
                velocity = max(1, rng.randint(vel_low, vel_high) - 20)
                notes.append(
                    Note(
                        beat * TICKS,
                        4 * TICKS - 20,
                        pitch,
                        velocity,
                        0,
                        "chord",
                        triad[0] % 12,
                        quality,
                    )
                )
        chord_pcs = {p % 12 for p in _triad(factors, degree, centre)}
        subdivisions = rng.choice((1, 2, 2, 4)) if beats > 4 else 2
        for sub in range(subdivisions):
            index = melody_pool.index(current)
            step = rng.choice((-2, -1, -1, 0, 1, 1, 2))
            index = min(len(melody_pool) - 1, max(0, index + step))
            candidates = [
                n for n in melody_pool[max(0, index - 1) : index + 2] if n % 12 in chord_pcs
            ]
            current = candidates[0] if candidates and sub == 0 else melody_pool[index]
            length = TICKS // subdivisions
            velocity = rng.randint(vel_low, vel_high)
            notes.append(
                Note(beat * TICKS + sub * length, length - 10, current, velocity, 0, "melody")
            )
    if factors.drums:
        for beat in range(beats):
            t = beat * TICKS
            kick_or_snare = DRUM_KICK if beat % 2 == 0 else DRUM_SNARE
            notes.append(Note(t, TICKS // 4, kick_or_snare, 100, DRUM_CHANNEL, "drum"))
            notes.append(Note(t, TICKS // 8, DRUM_HAT, 70, DRUM_CHANNEL, "drum"))
            notes.append(Note(t + TICKS // 2, TICKS // 8, DRUM_HAT, 60, DRUM_CHANNEL, "drum"))
    return notes


def notes_to_midi(notes: list[Note], factors: ClipFactors) -> mido.MidiFile:
    """A type-1 MIDI file of ``notes`` at the factors' tempo and instrument."""
    events: list[tuple[int, mido.Message]] = []
    for n in notes:
        on = mido.Message("note_on", note=n.pitch, velocity=n.velocity, channel=n.channel)
        off = mido.Message("note_off", note=n.pitch, velocity=0, channel=n.channel)
        events += [(n.start, on), (n.start + n.length, off)]
    midi = mido.MidiFile(ticks_per_beat=TICKS)
    track = mido.MidiTrack()
    midi.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(factors.bpm), time=0))
    track.append(mido.Message("program_change", program=factors.program, channel=0, time=0))
    last = 0
    for start, message in sorted(events, key=lambda e: (e[0], e[1].type == "note_on")):
        track.append(message.copy(time=start - last))
        last = start
    track.append(mido.MetaMessage("end_of_track", time=TICKS))
    return midi


def compose(factors: ClipFactors, seconds: float, rng: random.Random) -> mido.MidiFile:
    """A type-1 MIDI file lasting about ``seconds`` for ``factors``."""
    return notes_to_midi(compose_notes(factors, seconds, rng), factors)
