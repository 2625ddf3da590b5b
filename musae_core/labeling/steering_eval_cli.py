"""`musae eval-steering`: per feature, does steering move takes toward the feature's label?"""

from __future__ import annotations

import argparse
import sys

from musae_core.cli_support import progress_bar, stopped_exit
from musae_core.errors import MusaeError

KEPT = (
    "the outcomes of the features evaluated so far are in the database; run the same command "
    "to evaluate the rest"
)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "eval-steering", help="measure which labelled features steer generation toward their label"
    )
    p.add_argument("--model", default="tiny", help="'tiny', 'demo', a folder, or a MusicGen id")
    p.add_argument("--sae", required=True, help="SAE folder (cfg.json + sae_weights.safetensors)")
    p.add_argument("--db", required=True, help="feature database with labels")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--features", help="feature ids, e.g. 1,2,5 or 10-20")
    which.add_argument("--all", action="store_true")
    p.add_argument("--n", type=int, default=8, help="takes per condition (same seeds)")
    p.add_argument("--alpha", type=float, default=1.0, help="steering strength (x beta)")
    p.add_argument("--mode", default="add", help="intervention mode passed to the SAE")
    p.add_argument("--duration", type=float, default=5.0, help="seconds per take")
    p.add_argument("--prompt", action="append", default=None, help="neutral prompt(s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--clap-model", default=None, help="CLAP for the label-similarity measure")
    p.add_argument("--no-clap", action="store_true", help="descriptor measure only")
    p.add_argument("--device", default="auto")
    p.add_argument("--dtype", default="auto")
    p.set_defaults(func=cmd_eval_steering, kept=KEPT)


def cmd_eval_steering(args: argparse.Namespace) -> int:
    from musae_core.features.db import FeatureDB
    from musae_core.features.sae_match import check_db_matches_sae
    from musae_core.labeling.label_job import all_feature_ids, parse_feature_list
    from musae_core.labeling.steering_eval import (
        NEUTRAL_PROMPTS,
        SteeringSettings,
        run_steering_eval,
    )
    from musae_core.models.loading import load_model
    from musae_core.sae import load_sae
    from musae_core.sae.steering import feature_intervention

    if args.n < 2:
        raise MusaeError(f"--n must be at least 2, got {args.n}.", "use e.g. --n 8.")
    db = FeatureDB.open(args.db)
    ids = all_feature_ids(db) if args.all else parse_feature_list(args.features)
    model = load_model(args.model, device=args.device, dtype=args.dtype)
    sae = load_sae(args.sae, device=str(model.device))
    warning = check_db_matches_sae(db, sae, f"SAE {args.sae}")  # refuses another SAE's DB
    if warning:
        print(f"musae: warning: {warning}", file=sys.stderr)
    embedder = None
    if not args.no_clap:
        from musae_core.labeling.clap import DEFAULT_CLAP_ID, load_clap

        embedder = load_clap(args.clap_model or DEFAULT_CLAP_ID, device=args.device)
    settings = SteeringSettings(
        n=args.n,
        alpha=args.alpha,
        duration=args.duration,
        seed=args.seed,
        prompts=tuple(args.prompt) if args.prompt else NEUTRAL_PROMPTS,
    )

    def make_intervention(feature_id: int, alpha: float):
        return feature_intervention(sae, feature_id, alpha, mode=args.mode, db=db)

    update, bar = progress_bar("eval-steering", unit="feature")
    try:
        summary = run_steering_eval(
            db,
            model,
            ids,
            make_intervention,
            embedder,
            settings,
            progress=update,
            cancel=args.cancel,
        )
    finally:
        bar.close()
    print(
        f"eval-steering: {summary.evaluated} labelled features evaluated, {summary.steered} "
        f"steer ({summary.fraction:.1%}); {summary.unlabelled} unlabelled, "
        f"{summary.skipped} already done, {summary.failed} failed."
    )
    if summary.stopped == "cancelled":
        return stopped_exit(args)
    if summary.stopped:
        print(f"stopped: {summary.stopped}. Run the same command again to continue.")
    return 0
