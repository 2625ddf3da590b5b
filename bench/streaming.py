"""Streaming playback: time-to-first-audio against the full render time (``generate``), the
stream's total time, and the max |streamed - full decode| of the concatenated chunks.

    python bench/streaming.py                                  # tiny model, CPU, 10 s take
    python bench/streaming.py --config small --layers 2 --duration 4
    python bench/streaming.py --config small --device cuda    # the GPU run
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from generate import build, sync  # bench/generate.py

from musae_core.models.base import GenerationRequest
from musae_core.models.streaming import StreamOptions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default="tiny", choices=["tiny", "small", "medium", "large"])
    parser.add_argument("--layers", type=int, default=None, help="truncate the decoder")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--first-chunk", type=int, default=StreamOptions.first_chunk)
    parser.add_argument("--chunk", type=int, default=StreamOptions.chunk)
    parser.add_argument("--left-context", type=int, default=StreamOptions.left_context)
    parser.add_argument("--lookahead", type=int, default=StreamOptions.lookahead)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = build(args.config, args.device, torch.float32, args.layers)
    options = StreamOptions(
        first_chunk=args.first_chunk,
        chunk=args.chunk,
        left_context=args.left_context,
        lookahead=args.lookahead,
        crossfade=min(StreamOptions.crossfade, args.lookahead),
    )
    request = GenerationRequest(prompts=("simple melody",), duration=args.duration, seed=0)
    model.generate(GenerationRequest(prompts=request.prompts, duration=0.5))  # warm-up
    full_s, first_s, stream_s, last_audio_s, errors = [], [], [], [], []
    n_chunks = 0
    for _ in range(args.repeats):
        sync(model.device)
        start = time.perf_counter()
        take = model.generate(request)
        sync(model.device)
        full_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        chunks = list(model.generate_stream(request, options=options))
        stream_s.append(time.perf_counter() - start)  # includes the final full-take decode
        first_s.append(chunks[0].elapsed)
        last_audio_s.append(chunks[-1].elapsed)
        streamed = np.concatenate([c.audio for c in chunks], axis=-1)
        assert np.array_equal(chunks[-1].take.codes, take.codes)
        errors.append(float(np.abs(streamed - take.audio).max()))
        n_chunks = len(chunks)
    med = statistics.median
    peak = float(np.abs(take.audio).max())
    print(
        f"model={model.model_id} layers={model.num_layers} device={model.device} "
        f"audio={args.duration}s repeats={args.repeats} threads={args.threads} "
        f"torch={torch.__version__} python={platform.python_version()} options={options}"
    )
    print(f"  full render (generate)            {med(full_s):8.3f} s")
    print(f"  stream: first audio after         {med(first_s):8.3f} s  ({n_chunks} chunks)")
    print(f"  stream: last chunk after          {med(last_audio_s):8.3f} s")
    print(f"  stream incl. full-take decode     {med(stream_s):8.3f} s")
    print(f"{'time-to-first-audio / full render':46s} {med(first_s) / med(full_s):.3f}")
    print(f"{'stream (all chunks) / full render':46s} {med(last_audio_s) / med(full_s):.3f}")
    print(f"{'max |streamed - full decode|':46s} {max(errors):.2e} (peak {peak:.3f})")


if __name__ == "__main__":
    main()
