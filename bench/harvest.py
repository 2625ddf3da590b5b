"""Harvest speed: frames per second of teacher-forced capture (``harvest_audio``: read, encode,
teacher-force with residual hooks, store with background writes) against a plain forward pass
(encode + teacher-force, no hooks, nothing stored) over the same clips, measured interleaved
in one run; prints the hook + write overhead ratio (target <= 1.10).

    python bench/harvest.py                                   # tiny model, CPU
    python bench/harvest.py --config small --layers 4 --clips 8 --clip-seconds 5
    python bench/harvest.py --config small --device cuda --clips 64   # the GPU run
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from generate import build, sync  # bench/generate.py

from musae_core.audio.io import write_wav
from musae_core.harvest import HarvestConfig, harvest_audio
from musae_core.harvest.collection import list_audio_files
from musae_core.models.residual import capture_residual


def make_clips(folder: Path, n: int, seconds: float, rate: int) -> list[np.ndarray]:
    """``n`` distinct synthetic clips (chords + noise), written as wavs and returned."""
    rng = np.random.default_rng(0)
    t = np.arange(round(seconds * rate)) / rate
    clips = []
    for i in range(n):
        freqs = 110 * 2 ** (rng.integers(0, 36, size=3) / 12)
        wave = sum(np.sin(2 * np.pi * f * t) for f in freqs) / 4
        wave = (wave + 0.02 * rng.standard_normal(len(t))).astype(np.float32)
        write_wav(folder / f"clip{i:03d}.wav", wave, rate)
        clips.append(wave)
    return clips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default="tiny", choices=["tiny", "small", "medium", "large"])
    parser.add_argument("--layers", type=int, default=None, help="truncate the decoder")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--clips", type=int, default=16)
    parser.add_argument("--clip-seconds", type=float, default=10.0)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--capture", default=None, help="layers to capture, e.g. 1,3 (default: 2)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = build(args.config, args.device, torch.float32, args.layers)
    device = model.device
    if args.capture:
        layers = tuple(int(x) for x in args.capture.split(","))
    else:
        layers = tuple(sorted({model.num_layers // 2, model.num_layers - 1}))
    work = Path(tempfile.mkdtemp(prefix="musae-bench-harvest-"))
    try:
        audio_dir = work / "audio"
        audio_dir.mkdir()
        clips = make_clips(audio_dir, args.clips, args.clip_seconds, model.sample_rate)
        files = list_audio_files(audio_dir)
        batches = [clips[i : i + args.batch_size] for i in range(0, len(clips), args.batch_size)]

        def forward(capture: bool) -> int:
            frames = 0
            for batch in batches:
                codes = model.encode(torch.from_numpy(np.stack(batch)))
                frames += codes.shape[0] * codes.shape[-1]
                if capture:
                    with capture_residual(model, list(layers)) as rec:
                        model.teacher_force(codes)
                    for layer in layers:
                        rec.activations(layer, codes.shape[-1])
                else:
                    model.teacher_force(codes)
            return frames

        runs_done = [0]

        def harvest(background: bool):
            def run() -> int:
                runs_done[0] += 1
                out = work / f"store{runs_done[0]}"
                config = HarvestConfig(
                    layers=layers,
                    clip_seconds=args.clip_seconds,
                    batch_size=args.batch_size,
                    background_writes=background,
                )
                report = harvest_audio(model, files, out, config)
                shutil.rmtree(out)
                return report.rows

            return run

        runs = {
            "plain forward": lambda: forward(False),
            "forward + capture hooks": lambda: forward(True),
            "harvest (background writes)": harvest(True),
            "harvest (foreground writes)": harvest(False),
        }
        frames = {name: fn() for name, fn in runs.items()}  # warm-up, and frame counts
        times: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.repeats):
            for name, fn in runs.items():
                sync(device)
                start = time.perf_counter()
                fn()
                sync(device)
                times[name].append(time.perf_counter() - start)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    med = {name: statistics.median(ts) for name, ts in times.items()}
    print(
        f"model={model.model_id} layers={model.num_layers} d_model={model.d_model} "
        f"device={device} clips={args.clips}x{args.clip_seconds}s batch={args.batch_size} "
        f"captured layers={list(layers)} repeats={args.repeats} threads={args.threads} "
        f"torch={torch.__version__} python={platform.python_version()}"
    )
    for name, value in med.items():
        print(f"  {name:30s} {value:8.3f} s  {frames[name] / value:10.0f} frames/s")
    plain = med["plain forward"]
    ratios = {
        "capture hooks / plain forward": med["forward + capture hooks"] / plain,
        "harvest (background writes) / plain forward": med["harvest (background writes)"] / plain,
        "harvest (foreground writes) / plain forward": med["harvest (foreground writes)"] / plain,
    }
    for label, value in ratios.items():
        print(f"{label:46s} {value:.3f}")


if __name__ == "__main__":
    main()
