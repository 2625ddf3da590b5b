"""`musae db stamp`: record which SAE a feature database describes (databases made before
``musae analyze`` recorded it), after checking the database against that SAE."""

from __future__ import annotations

import argparse


def cmd_stamp(args: argparse.Namespace) -> int:
    from musae_core.features.db import FeatureDB
    from musae_core.features.sae_match import stamp_db
    from musae_core.sae import load_sae

    sae = load_sae(args.sae)
    with FeatureDB.open(args.db) as db:
        identity, compared = stamp_db(db, sae, f"SAE {args.sae}")
        db.checkpoint()
    checked = f"{compared} stored decoder cosines agree" if compared else "no cosines stored"
    print(
        f"{args.db}: describes SAE {args.sae} (weights sha256 "
        f"{identity['weights_sha256'][:16]}..., {checked}); identity recorded."
    )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("db", help="feature database maintenance")
    tasks = p.add_subparsers(dest="db_command", required=True)
    stamp = tasks.add_parser(
        "stamp", help="record the SAE a feature database was analysed from (older databases)"
    )
    stamp.add_argument("--db", required=True, help="feature database, e.g. FEATURES.db")
    stamp.add_argument("--sae", required=True, help="the SAE folder it was analysed from")
    stamp.set_defaults(func=cmd_stamp)
