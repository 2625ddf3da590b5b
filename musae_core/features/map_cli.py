"""`musae map`: compute the feature map's 2-D layout of an SAE and cache it in FEATURES.db.

The layout is keyed by a hash of the SAE's decoder, so re-running is instant until the SAE
changes; Ctrl+C cancels and leaves the database as it was.
"""

from __future__ import annotations

import argparse

from musae_core.cli_support import progress_bar


def cmd_map(args: argparse.Namespace) -> int:
    from musae_core.features.db import FeatureDB
    from musae_core.features.layout import decoder_rows, layout_for_sae
    from musae_core.sae import load_sae

    sae = load_sae(args.sae, device="cpu")
    update, bar = progress_bar("laying out features", unit="step")
    try:
        with FeatureDB.open(args.db) as db:
            layout, computed = layout_for_sae(
                db, decoder_rows(sae), args.method, update, args.cancel, recompute=args.recompute
            )
    finally:
        bar.close()
    state = "computed and cached" if computed else "already cached"
    print(
        f"{args.db}: {layout.count} features, {layout.method} layout {state} "
        f"(SAE {layout.sae_hash[:12]})."
    )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from musae_core.features.layout import METHODS

    p = sub.add_parser(
        "map",
        help="compute and cache the 2-D feature map of an SAE",
        description=__doc__.splitlines()[0],
    )
    p.add_argument("--db", required=True, help="feature database from `musae analyze`")
    p.add_argument("--sae", required=True, help="the SAE folder the database was analysed from")
    p.add_argument(
        "--method",
        choices=METHODS,
        default="auto",
        help="auto: UMAP if umap-learn is installed, else PCA",
    )
    p.add_argument("--recompute", action="store_true", help="ignore a cached layout")
    p.set_defaults(func=cmd_map, kept="the database is unchanged")
