"""Benchmark the feature database: `analyze` speed on CPU and query latency at 30k features.

    python bench/features.py                       # 1M frames, 16k-feature TopK SAE, 30k DB
    python bench/features.py --frames 100000 --d-sae 4096   # quick check

Part 1 writes a synthetic activation store (random fp16 rows, 10 s clips at 50 Hz) and times
``analyze`` with a random TopK SAE (no snippets: the store has no audio). Part 2 builds a
30k-feature database with 10 top clips per feature and a label each, then times opening it
and the table queries the GUI runs (label search, sort by score).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from musae_core.features import FeatureDB, FeatureStats, TopClip
from musae_core.features.analyze import analyze
from musae_core.harvest.prepare import prepare_store
from musae_core.harvest.store import STORE_FORMAT, STORE_VERSION, ActivationStore
from musae_core.harvest.writer import ShardWriter
from musae_core.sae import SAEConfig, build_sae

WORDS = [
    "piano",
    "bright",
    "guitar",
    "distorted",
    "drums",
    "kick",
    "snare",
    "bass",
    "synth",
    "pad",
    "warm",
    "calm",
    "energetic",
    "minor",
    "major",
    "fast",
    "slow",
    "vocal",
    "choir",
    "strings",
    "brass",
    "reverb",
    "lofi",
    "jazz",
    "rock",
    "ambient",
]


def synthetic_store(folder: Path, frames: int, d: int, clip_frames: int = 500) -> ActivationStore:
    """``frames`` random rows in clips of ``clip_frames`` (one clip per source)."""
    clips = max(1, frames // clip_frames)
    entries = [
        {"path": f"/bench/source{i:06d}.wav", "name": f"s{i}", "caption": ""} for i in range(clips)
    ]
    meta = {
        "format": STORE_FORMAT,
        "version": STORE_VERSION,
        "model_id": "bench",
        "layers": [0],
        "hook_names": ["blocks.0.hook_resid_post"],
        "d_model": d,
        "frame_rate": 50.0,
        "sample_rate": 32000,
        "dtype": "fp16",
        "clip_seconds": clip_frames / 50,
        "min_clip_seconds": 1.0,
        "conditioning": "unconditional",
    }
    prepare_store(folder, meta, entries)
    writer = ShardWriter(folder, [0], "fp16", 65_536, background=False)
    generator = torch.Generator().manual_seed(0)
    for i in range(clips):
        rows = torch.randn(clip_frames, d, generator=generator)
        writer.add_clip(i, 0, 0.0, 50.0, {0: rows})
    writer.close()
    return ActivationStore.open(folder)


def random_sae(d: int, d_sae: int, k: int):
    sae = build_sae(SAEConfig("topk", d_in=d, d_sae=d_sae, k=k, model_id="bench", layer=0))
    with torch.no_grad():
        w = torch.nn.functional.normalize(torch.randn(d_sae, d), dim=1)
        sae.W_dec.copy_(w)
        sae.W_enc.copy_(w.T)
    return sae.eval()


def build_db(path: Path, n: int, clips: int, timeline_frames: int) -> float:
    """A database shaped like a labelled 30k-feature SAE; returns seconds to build."""
    started = time.perf_counter()
    rng = np.random.default_rng(0)
    pick = random.Random(0)
    db = FeatureDB.create(path, {"model_id": "bench", "layer": 0}, overwrite=True)
    rates = rng.beta(0.5, 5, n)
    db.write_features(
        FeatureStats(
            i,
            float(rates[i] / 10),
            float(rates[i]),
            float(rng.gamma(2)),
            1.0,
            {"q50": 0.5},
            ([0.0, 1.0], [10]),
            ([0.0, 1.0], [3]),
            rates[i] == 0,
            bool(rates[i] < 0.01),
            bool(rates[i] > 0.25),
        )
        for i in range(n)
    )
    for lo in range(0, n, 2000):
        items = []
        for i in range(lo, min(n, lo + 2000)):
            timeline = np.where(rng.random(timeline_frames) < 0.05, rng.random(timeline_frames), 0)
            top = [
                TopClip(
                    r + 1,
                    f"/music/{pick.randrange(10**6)}.wav",
                    10.0 * r,
                    10.0,
                    0.5,
                    1.0,
                    timeline,
                    50.0,
                    (1.0, 6.0),
                )
                for r in range(clips)
            ]
            items.append((i, "mean", top))
        db.write_many_top_clips(items, replace=False)
    with db._tx() as conn:  # labels in bulk: one per feature, half of them validated
        rows = [
            (
                i,
                "clap",
                " ".join(pick.sample(WORDS, 2)),
                float(rng.random()),
                "{}",
                "",
                float(rng.random()) if i % 2 else None,
                "",
            )
            for i in range(n)
        ]
        conn.executemany(
            "INSERT INTO labels(feature_id, source, text, score, evidence, description, "
            "clap_score, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        conn.execute(
            "UPDATE features SET best_label = (SELECT text FROM labels l WHERE l.feature_id = "
            "features.id), label_source = 'clap', label_score = (SELECT score FROM labels l "
            "WHERE l.feature_id = features.id), clap_score = (SELECT clap_score FROM labels l "
            "WHERE l.feature_id = features.id)"
        )
    db.close()
    return time.perf_counter() - started


def timed(fn, repeat: int = 3) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1_000_000)
    parser.add_argument("--d", type=int, default=64)
    parser.add_argument("--d-sae", type=int, default=16_384)
    parser.add_argument("--k", type=int, default=32)
    parser.add_argument("--db-features", type=int, default=30_000)
    parser.add_argument("--clips", type=int, default=10)
    parser.add_argument("--timeline-frames", type=int, default=500)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--work", default=None, help="folder for the store/DBs (default: temp)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    work = Path(args.work or tempfile.mkdtemp(prefix="musae-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[str, str]] = []

    started = time.perf_counter()
    store = synthetic_store(work / "store", args.frames, args.d)
    rows.append(
        (
            f"write store ({store.num_rows():,} frames, d={args.d})",
            f"{time.perf_counter() - started:.2f} s",
        )
    )
    sae = random_sae(args.d, args.d_sae, args.k)
    started = time.perf_counter()
    report = analyze(sae, store, work / "analyze.db", overwrite=True, snippet_seconds=0)
    seconds = time.perf_counter() - started
    rows.append(
        (
            f"analyze ({args.d_sae:,} features, k={args.k}, {args.threads} threads)",
            f"{seconds:.2f} s ({report.rows / seconds:,.0f} frames/s)",
        )
    )
    rows.append(("analyze DB size", f"{(work / 'analyze.db').stat().st_size / 1e6:.1f} MB"))

    path = work / "query.db"
    build = build_db(path, args.db_features, args.clips, args.timeline_frames)
    rows.append(
        (
            f"build DB ({args.db_features:,} features x {args.clips} clips)",
            f"{build:.2f} s, {path.stat().st_size / 1e6:.1f} MB",
        )
    )
    open_s, db = timed(lambda: FeatureDB.open(path, readonly=True), repeat=1)
    rows.append(("open", f"{open_s * 1e3:.1f} ms"))
    checks = {
        "query() all rows": lambda: db.query(),
        "query(text='piano')": lambda: db.query(text="piano"),
        "query(text='warm pad', hide_rare)": lambda: db.query(text="warm pad", hide_rare=True),
        "query(sort='score', desc)": lambda: db.query(sort="score", descending=True),
        "query(sort='clap_score', limit=100)": lambda: db.query(sort="clap_score", limit=100),
        "feature(i) + top_clips(i)": lambda: (
            db.feature(12345 % args.db_features),
            db.top_clips(12345 % args.db_features),
        ),
    }
    for name, fn in checks.items():
        seconds, result = timed(fn)
        size = f" ({len(result):,} rows)" if isinstance(result, list) else ""
        rows.append((name + size, f"{seconds * 1e3:.1f} ms"))
    db.close()
    width = max(len(name) for name, _ in rows)
    print(f"\nmusae feature benchmark (work folder {work})")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")


if __name__ == "__main__":
    main()
