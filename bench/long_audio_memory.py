"""Peak memory of cutting one long audio file into harvest clips: whole-file read vs blocks.

Generates 44.1 kHz mono FLAC tones (3 s, 45 min and 2 h by default), then, in a fresh process per
file and mode, cuts every 10 s clip at 32 kHz (the MusicGen rate) and reports the process's peak
RSS: "whole" is the old path (``load_audio`` reads and resamples the whole file, then clips are
sliced from it), "blocks" is ``read_clips`` (what harvest and live training use now).

    python bench/long_audio_memory.py [--minutes 0.05 45 120] [--dir DIR]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

RATE, MODEL_RATE, CLIP = 44_100, 32_000, 10.0


def make_file(path: Path, minutes: float) -> None:
    """A tone written a block at a time (this process never holds the file)."""
    if path.is_file():
        return
    t = np.arange(10 * RATE) / RATE
    block = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    left = round(minutes * 60 * RATE)
    with sf.SoundFile(path, "w", RATE, 1, format="FLAC", subtype="PCM_16") as file:
        while left > 0:
            file.write(block[: min(left, len(block))])
            left -= len(block)


def child(mode: str, path: Path) -> None:
    """Cut every clip and print (clips, peak RSS in MiB)."""
    from musae_core.audio.io import load_audio
    from musae_core.harvest.collection import SourceFile, clip_spans, read_clips

    clips = 0
    if mode == "whole":
        audio = load_audio(path, MODEL_RATE)
        for span in clip_spans(len(audio), MODEL_RATE, CLIP, 1.0):
            clips += len(audio[span.start : span.stop]) > 0
    else:
        for _ in read_clips(SourceFile(path, path.name), MODEL_RATE, CLIP, 1.0):
            clips += 1
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{clips} {peak_mib:.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[0.05, 45, 120])
    parser.add_argument("--dir", default=None, help="where to keep the generated files")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return
    folder = Path(args.dir or tempfile.mkdtemp(prefix="musae-long-audio-"))
    folder.mkdir(parents=True, exist_ok=True)
    print("| file | clips | peak RSS, whole file (MiB) | peak RSS, blocks (MiB) | whole / blocks |")
    print("|---|---|---|---|---|")
    for minutes in args.minutes:
        path = folder / f"tone_{minutes:g}min.flac"
        make_file(path, minutes)
        peaks = {}
        for mode in ("whole", "blocks"):
            out = subprocess.run(
                [sys.executable, __file__, "--child", mode, str(path)],
                check=True,
                capture_output=True,
                text=True,
            )
            clips, peak = out.stdout.split()
            peaks[mode] = float(peak)
        label = f"{minutes * 60:g} s" if minutes < 1 else f"{minutes:g} min"
        print(
            f"| {label} | {clips} | {peaks['whole']:.0f} | {peaks['blocks']:.0f} | "
            f"{peaks['whole'] / peaks['blocks']:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
