"""Live knob latency: from a knob release during a streaming take to the first changed sample
handed to playback (the chunk that holds the first frame the new steering touched).

A timer thread "releases the knob" at several points of the take (a feature channel jumps to
``--alpha``); the decoding thread switches steering at the next chunk boundary
(``musae_core.punch.live``). Printed per release: the wait for the boundary, the time until the
changed chunk is handed out, and the total. One run, one process, the conditions printed.

    python bench/punch_latency.py                 # the shipped demo, CPU, 1 thread
    python bench/punch_latency.py --device cuda   # the GPU run
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from musae_core.models.base import GenerationRequest
from musae_core.models.loading import load_model
from musae_core.models.streaming import StreamOptions
from musae_core.punch.live import LIVE_OPTIONS, LiveStream

DEMO = Path(__file__).resolve().parents[1] / "resources" / "demo"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="demo")
    parser.add_argument("--sae", default=str(DEMO / "sae"))
    parser.add_argument("--feature", type=int, default=1641)
    parser.add_argument("--alpha", type=float, default=8.0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--chunk", type=int, default=LIVE_OPTIONS.chunk, help="frames")
    parser.add_argument("--release", type=float, nargs="+", default=[0.4, 0.9, 1.3, 1.8])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from musae_core.sae import load_sae
    from musae_core.sae.steering import feature_intervention

    model = load_model(args.model, device=args.device, dtype="fp32")
    sae = load_sae(args.sae, device=model.device)
    push = feature_intervention(sae, args.feature, args.alpha)
    request = GenerationRequest(
        prompts=("medium loud major piano melody",), duration=args.duration, seed=1
    )
    options = StreamOptions(chunk=args.chunk)
    reference = list(LiveStream(model, request).chunks())[-1].take  # also the warm-up
    rows = []
    for release in args.release:
        live = LiveStream(model, request)
        started = time.perf_counter()
        timer = threading.Timer(release, live.change, args=([push],))
        timer.start()
        final = list(live.chunks(options=options))[-1]
        timer.cancel()
        if not live.landings:
            print(f"release at {release:.2f} s: the take ended before the next boundary")
            continue
        landing = live.landings[0]
        frame = landing.segment.start_frame
        lag = max(model.delays)
        same = np.array_equal(
            final.take.codes[..., : frame - lag], reference.codes[..., : frame - lag]
        )
        changed = float((final.take.codes[..., frame:] != reference.codes[..., frame:]).mean())
        rows.append(
            (
                landing.requested_at - started,
                landing.boundary_at - landing.requested_at,
                landing.latency,
                frame,
                same,
                changed,
            )
        )
    cores = os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"# {platform.processor() or platform.machine()}, {cores} cores visible, "
        f"torch threads {args.threads}, load average {load:.1f}, device {model.device}, "
        f"model {args.model}, {args.duration:g} s take, feature {args.feature} alpha "
        f"{args.alpha:g}, chunk {args.chunk} frames"
    )
    print("release_s  wait_for_boundary_s  latency_s  punch_frame  before_same  changed_after")
    for r in rows:
        print(f"{r[0]:9.2f}  {r[1]:19.3f}  {r[2]:9.3f}  {r[3]:11d}  {r[4]!s:11}  {r[5]:13.2f}")
    if rows:
        lat = [r[2] for r in rows]
        print(
            f"latency median {statistics.median(lat):.3f} s, max {max(lat):.3f} s "
            f"over {len(lat)} releases"
        )


if __name__ == "__main__":
    main()
