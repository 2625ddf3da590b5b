"""Render MIDI to audio with FluidSynth and a General MIDI soundfont (Debian packages)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import mido
import numpy as np
import soundfile as sf

from musae_core.errors import MusaeError

SOUNDFONT_CANDIDATES = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/TimGM6mb.sf2",
)


def find_soundfont(explicit: str | Path | None = None) -> Path:
    """The soundfont to use: ``explicit``, else the first General MIDI font installed."""
    for candidate in [explicit] if explicit else SOUNDFONT_CANDIDATES:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise MusaeError(
        "No General MIDI soundfont found.",
        "install one (Debian: apt-get install fluid-soundfont-gm) or pass --soundfont FILE.sf2.",
    )


def find_fluidsynth() -> str:
    path = shutil.which("fluidsynth")
    if path is None:
        raise MusaeError(
            "FluidSynth is not installed.", "install it (Debian: apt-get install fluidsynth)."
        )
    return path


def render_midi(
    midi: mido.MidiFile, soundfont: Path, sample_rate: int, seconds: float, gain: float = 0.6
) -> np.ndarray:
    """Render ``midi`` to mono float32 of exactly ``seconds`` (trimmed or zero-padded)."""
    with tempfile.TemporaryDirectory(prefix="musae-synth-") as tmp:
        mid_path, wav_path = Path(tmp) / "in.mid", Path(tmp) / "out.wav"
        midi.save(str(mid_path))
        command = [
            find_fluidsynth(), "-ni", "-q", "-g", str(gain), "-r", str(sample_rate),
            "-o", "synth.reverb.active=0", "-o", "synth.chorus.active=0",
            "-F", str(wav_path), str(soundfont), str(mid_path),
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if result.returncode != 0 or not wav_path.exists():
            raise MusaeError(
                f"FluidSynth failed: {result.stderr.strip()[:300]}",
                "check the soundfont file and the FluidSynth installation.",
            )
        audio, rate = sf.read(str(wav_path), dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    target = round(seconds * sample_rate)
    if rate != sample_rate:
        raise MusaeError(f"FluidSynth wrote {rate} Hz instead of {sample_rate}.", "update it.")
    out = np.zeros(target, dtype=np.float32)
    out[: min(target, len(mono))] = mono[:target]
    return out
