"""The ground-truth factor space of the demo corpus and seeded sampling from it."""

from __future__ import annotations

import random
import re
from dataclasses import asdict, dataclass

# General MIDI programs (0-based), two per family so timbre varies within a family.
INSTRUMENT_FAMILIES: dict[str, tuple[int, ...]] = {
    "piano": (0, 1),
    "mallets": (11, 12),
    "organ": (16, 19),
    "guitar": (24, 25),
    "bass": (32, 33),
    "violin": (40, 41),
    "strings": (48, 49),
    "brass": (56, 61),
    "saxophone": (65, 66),
    "flute": (73, 75),
    "synth lead": (80, 81),
    "synth pad": (88, 89),
}
NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
MODES = ("major", "minor")
TEMPO_BANDS: dict[str, tuple[int, int]] = {
    "slow": (60, 84),
    "medium": (90, 120),
    "fast": (132, 170),
}
REGISTER_BANDS: dict[str, int] = {"low": 43, "mid": 60, "high": 77}  # melody centre, MIDI note
DYNAMICS: dict[str, tuple[int, int]] = {"soft": (38, 55), "loud": (96, 118)}


@dataclass(frozen=True)
class ClipFactors:
    """The factors one clip was rendered with; the caption is derived from them."""

    instrument: str
    program: int
    tonic: int
    mode: str
    tempo_band: str
    bpm: int
    register: str
    dynamics: str
    drums: bool

    @property
    def key_name(self) -> str:
        return f"{NOTE_NAMES[self.tonic]} {self.mode}"

    def caption(self) -> str:
        drums = " with drums" if self.drums else ""
        return (
            f"{self.tempo_band} {self.dynamics} {self.mode} {self.instrument} melody, "
            f"{self.register} register, in {self.key_name}{drums}"
        )

    def to_dict(self) -> dict:
        return {**asdict(self), "key": self.key_name, "caption": self.caption()}


def sample_factors(rng: random.Random) -> ClipFactors:
    """Draw every factor independently and uniformly, so no two factors are confounded."""
    instrument = rng.choice(sorted(INSTRUMENT_FAMILIES))
    tempo_band = rng.choice(sorted(TEMPO_BANDS))
    low, high = TEMPO_BANDS[tempo_band]
    return ClipFactors(
        instrument=instrument,
        program=rng.choice(INSTRUMENT_FAMILIES[instrument]),
        tonic=rng.randrange(12),
        mode=rng.choice(MODES),
        tempo_band=tempo_band,
        bpm=rng.randint(low, high),
        register=rng.choice(sorted(REGISTER_BANDS)),
        dynamics=rng.choice(sorted(DYNAMICS)),
        drums=rng.random() < 0.5,
    )


_MODE_WORD = re.compile(r"\b(major|minor)\b")


def flip_mode(caption: str) -> str:
    """``caption`` with every mode word swapped: the negative of the LM's mode-contrast loss."""
    return _MODE_WORD.sub(lambda m: "minor" if m.group(1) == "major" else "major", caption)
