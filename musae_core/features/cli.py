"""`musae analyze`: an SAE over an activation store -> FEATURES.db (+ FEATURES.snippets/).

Ctrl+C cancels cleanly: the temporary database and snippets are removed and an existing output
is left untouched; the spilled codes stay, so the same command resumes (as after a kill).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from musae_core.cli_support import progress_bar


def cmd_analyze(args: argparse.Namespace) -> int:
    from musae_core.features.analyze import analyze
    from musae_core.harvest.store import ActivationStore
    from musae_core.models.devices import select_device
    from musae_core.sae import load_sae

    store = ActivationStore.open(args.store)
    sae = load_sae(args.sae, device=select_device(args.device))
    update, bar = progress_bar("analyzing", unit="step")
    try:
        report = analyze(
            sae,
            store,
            args.out,
            top_n=args.top_n,
            clip_threshold=args.threshold,
            relative_threshold=args.relative_threshold,
            rare=args.rare,
            generic=args.generic,
            snippet_seconds=args.snippet_seconds,
            snippet_format=args.snippet_format,
            chunk_rows=args.chunk_rows,
            layer=args.layer,
            sae_path=args.sae,
            overwrite=args.overwrite,
            progress=update,
            cancel=args.cancel,
        )
    finally:
        bar.close()
    print(report.summary())
    return 0


def kept_codes(args: argparse.Namespace) -> str:
    """What a stopped analyze keeps: no database, but the codes of the shards it encoded."""
    from musae_core.features.analyze import temp_paths

    spill = temp_paths(Path(args.out))[2]
    encoded = len(list(spill.glob("*.npz"))) if spill.is_dir() else 0
    if not encoded:
        return f"no database was written (nothing of {args.out} changed)"
    return (
        f"no database was written; the codes of {encoded} encoded shard(s) are kept in "
        f"{spill}, so the same command resumes after them"
    )


def register(sub: argparse._SubParsersAction) -> None:
    from musae_core.features.snippets import SNIPPET_FORMATS

    p = sub.add_parser(
        "analyze",
        help="per-feature statistics, top clips and snippets of an SAE",
        description=__doc__.splitlines()[0],
    )
    p.add_argument("--sae", required=True, help="SAE folder (cfg.json + sae_weights.safetensors)")
    p.add_argument("--store", required=True, help="activation store folder from `musae harvest`")
    p.add_argument("--out", required=True, help="feature database to write, e.g. FEATURES.db")
    p.add_argument("--layer", type=int, default=None, help="store layer (default: the SAE's)")
    p.add_argument("--top-n", type=int, default=10, help="top clips kept per feature and ranking")
    p.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="absolute clip-mean activation threshold for the clip rate",
    )
    p.add_argument(
        "--relative-threshold",
        type=float,
        default=0.05,
        help="without --threshold: clip mean above this share of the max",
    )
    p.add_argument("--rare", type=float, default=0.01, help="clip rate below this: too rare")
    p.add_argument("--generic", type=float, default=0.25, help="clip rate above this: generic")
    p.add_argument(
        "--snippet-seconds",
        type=float,
        default=5.0,
        help="best-window / snippet length; 0 writes no snippets",
    )
    p.add_argument(
        "--snippet-format",
        choices=SNIPPET_FORMATS,
        default="flac",
        help="opus: lossy, ~8x smaller (to ship a database with audio)",
    )
    p.add_argument("--chunk-rows", type=int, default=8192, help="rows encoded at a time")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument("--device", default="cpu", help="device for encoding: cpu, cuda, auto...")
    p.set_defaults(func=cmd_analyze, kept=kept_codes)
