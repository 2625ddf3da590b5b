"""`musae sweep` (a grid of SAEs on one store, scored) and `musae truth` (DSP truth tables for
any audio folder, aligned to a store's rows, for the sweep's concept scores)."""

from __future__ import annotations

import argparse
from pathlib import Path

from musae_core.cli_support import log_line, progress_bar, stage_bars
from musae_core.errors import MusaeError


def _ints(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise MusaeError(
            f"{text!r} is not a comma-separated list of integers.", "write e.g. 1,2,3."
        ) from exc


def cmd_sweep(args: argparse.Namespace) -> int:
    from musae_core.features.sweep import SweepSpec, run_sweep
    from musae_core.features.sweep_table import table_markdown
    from musae_core.sae.cli import parse_widths

    spec = SweepSpec(
        layers=_ints(args.layers),
        expansions=_ints(args.expansions),
        ks=_ints(args.ks),
        architectures=[a.strip() for a in args.archs.split(",") if a.strip()],
        tokens=args.tokens,
        batch_size=args.batch_size,
        seeds=_ints(args.seeds) if args.seeds else [args.seed],
        holdout_every=args.holdout_every,
        eval_rows=args.eval_rows,
        fvu_bound=args.fvu_bound,
        delta_clips=args.delta_clips,
        matryoshka_widths=list(parse_widths(args.matryoshka_widths) or []) or None,
    )
    spec.cells()  # refuse a bad grid before any data is read
    progress, close = stage_bars()
    try:
        table = run_sweep(
            args.store, args.out, spec, args.truth, args.model, progress, args.cancel, log=log_line
        )
    finally:
        close()
    print(table_markdown(table))
    print(f"wrote {args.out}/sweep.md and {args.out}/sweep.json")
    return 0


def cmd_truth(args: argparse.Namespace) -> int:
    from musae_core.features.dsp_truth import write_dsp_truth

    update, bar = progress_bar("DSP truth", unit="source")
    try:
        truth = write_dsp_truth(args.store, args.out, args.max_sources, update, args.cancel)
    finally:
        bar.close()
    print(f"{len(truth.names)} concepts x {len(truth.frames)} frames in {args.out}")
    return 0


def kept_cells(args: argparse.Namespace) -> str:
    """What a stopped sweep keeps: its finished cells, which a re-run skips."""
    from musae_core.features.sweep_table import METRICS

    done = len(list((Path(args.out) / "cells").glob(f"*/{METRICS}")))
    return f"{done} finished cell(s) are kept in {args.out}; run the same command to resume"


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("sweep", help="train and score a grid of SAEs on one store (resumable)")
    s.add_argument("--store", required=True, help="activation store (from `musae harvest`)")
    s.add_argument("--out", required=True, help="sweep folder: cells/, sweep.md, sweep.json")
    s.add_argument("--layers", required=True, help="comma-separated layers of the store")
    s.add_argument("--expansions", default="16", help="d_sae / d_model values, e.g. 8,16")
    s.add_argument("--ks", default="32", help="k values (TopK-family; JumpReLU ignores k)")
    s.add_argument(
        "--archs",
        default="topk",
        help="comma-separated: topk, batchtopk, matryoshka_batchtopk, jumprelu, relu",
    )
    s.add_argument("--tokens", type=int, default=1_000_000, help="training rows per cell")
    s.add_argument("--batch-size", type=int, default=4096)
    s.add_argument(
        "--truth", default=None, help="concept truth .npz (`musae demo truth` or `musae truth`)"
    )
    s.add_argument("--model", default=None, help="the store's model, for the delta-loss")
    s.add_argument("--delta-clips", type=int, default=8, help="held-out clips for delta-loss")
    s.add_argument(
        "--holdout-every",
        type=int,
        default=10,
        help="source s is held out (never trained on) when s %% N == N - 1",
    )
    s.add_argument("--eval-rows", type=int, default=50_000, help="held-out rows for FVU/L0/dead")
    s.add_argument("--fvu-bound", type=float, default=0.25, help="best cell: FVU at most this")
    s.add_argument("--seed", type=int, default=0, help="training seed (one per set-up)")
    s.add_argument(
        "--seeds",
        default=None,
        help="comma-separated training seeds: each set-up is trained once per seed, judged by "
        "its mean, and the table shows the spread (e.g. 0,1,2; overrides --seed)",
    )
    s.add_argument(
        "--matryoshka-widths",
        default=None,
        help="nested prefix sizes of matryoshka_batchtopk cells, e.g. 16,64,256,1024 (the "
        "cells' names end in -w16.64.256.1024)",
    )
    s.set_defaults(func=cmd_sweep, kept=kept_cells)
    t = sub.add_parser(
        "truth",
        help="DSP truth table of a store's audio (loudness, brightness, "
        "onsets, chroma pitch class, tempo) aligned to its rows",
    )
    t.add_argument("--store", required=True, help="activation store harvested from audio files")
    t.add_argument("--out", required=True, help="truth table .npz (for `musae sweep --truth`)")
    t.add_argument("--max-sources", type=int, default=200, help="sources described (half held out)")
    t.set_defaults(func=cmd_truth, kept="no truth table was written")
