"""`musae label`: descriptor, CLAP, LLM labels and CLAP validation over a feature database.

No network unless the user picks ``--method llm`` (the endpoint they configured) or passes
``--download-clap``. Ctrl+C stops after the current feature; a re-run finishes what is missing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from musae_core.cli_support import progress_bar, stage_bars, stopped_exit
from musae_core.errors import MusaeError
from musae_core.features.db import FeatureDB
from musae_core.labeling.file_classifiers import FILE_CLASSIFIERS, file_classifier_method

METHODS = ("descriptors", "clap", "llm", "essentia", *FILE_CLASSIFIERS, "validate")
KEPT = "every label written so far is in the database; run the same command to finish the rest"


def register(subparsers) -> None:
    """Add ``musae label``."""
    p = subparsers.add_parser("label", help="label features: descriptors, CLAP tags, LLM, validate")
    p.add_argument("--db", required=True, help="feature database (FEATURES.db)")
    p.add_argument("--method", required=True, choices=METHODS)
    which = p.add_mutually_exclusive_group()
    which.add_argument("--features", help="feature ids, e.g. 1,2,5 or 10-20")
    which.add_argument("--all", action="store_true", help="every feature in the database")
    p.add_argument("--limit", type=int, default=None, help="label at most N missing features")
    p.add_argument(
        "--clap-model",
        default=None,
        help="CLAP id or folder (default laion/larger_clap_music; 'tiny' is a random test model)",
    )
    p.add_argument("--download-clap", action="store_true", help="allow downloading CLAP weights")
    p.add_argument("--validate", action="store_true", help="also CLAP-validate the new labels")
    p.add_argument("--device", default="auto", help="device for CLAP: auto, cpu, cuda...")
    p.add_argument("--baseline-size", type=int, default=64, help="random baseline clips")
    p.add_argument("--seed", type=int, default=0, help="seed of the baseline draw")
    p.add_argument("--top-clips", type=int, default=10, help="top clips per feature to use")
    p.add_argument("--alpha", type=float, default=0.01, help="descriptor significance level")
    p.add_argument(
        "--vocabulary", default=None, help="folder of *.txt term lists for --method clap"
    )
    p.add_argument("--top-k", type=int, default=3, help="CLAP tags kept per feature")
    p.add_argument("--essentia-embedding", default=None, help="Essentia embedding model .pb")
    p.add_argument("--essentia-head", default=None, help="Essentia classifier head .pb (+ .json)")
    p.add_argument(
        "--classifier", default=None, help="factor classifier .npz for --method classifier"
    )
    p.add_argument(
        "--associate",
        metavar="STORE",
        default=None,
        help="with --method classifier or essentia: tag every clip of this activation store "
        "and label each feature with the tag its clip activation predicts best (AUROC over all "
        "clips, not only the top clips); every feature is scored",
    )
    p.add_argument("--sae", default=None, help="the DB's SAE for --associate (else its meta)")
    p.add_argument(
        "--min-auroc", type=float, default=0.75, help="--associate: weakest AUROC that labels"
    )
    p.add_argument("--llm-url", default=None, help="endpoint base URL (else $MUSAE_LLM_URL)")
    p.add_argument("--llm-model", default=None, help="model name (else $MUSAE_LLM_MODEL)")
    p.add_argument("--llm-rpm", type=float, default=20.0, help="requests per minute")
    p.add_argument("--llm-max-requests", type=int, default=500, help="request budget of the run")
    p.add_argument("--llm-max-audio-seconds", type=float, default=120.0)
    p.add_argument("--llm-timeout", type=float, default=120.0, help="seconds per request")
    p.set_defaults(func=cmd_label, kept=KEPT)


def open_feature_db(path: str) -> FeatureDB:
    """The --db database, opened read-write (labels are written into it)."""
    return FeatureDB.open(path)


def _build_method(args, embedder_cache):
    from musae_core.labeling.methods import ClapMethod, DescriptorMethod, LLMMethod

    if args.method == "descriptors":
        from musae_core.labeling.descriptor_labeler import DescriptorThresholds

        return DescriptorMethod(DescriptorThresholds(alpha=args.alpha))
    if args.method == "clap":
        from musae_core.labeling.clap_tagger import ClapTagger, TaggerSettings
        from musae_core.labeling.vocabulary import load_vocabulary

        tagger = ClapTagger(embedder_cache.embedder, load_vocabulary(args.vocabulary))
        return ClapMethod(tagger, embedder_cache, TaggerSettings(top_k=args.top_k))
    if args.method == "llm":
        from musae_core.labeling.llm_client import ChatClient, LLMSettings
        from musae_core.labeling.llm_labeler import LLMLabeller

        settings = LLMSettings.from_env(
            url=args.llm_url,
            model=args.llm_model,
            requests_per_minute=args.llm_rpm,
            max_requests=args.llm_max_requests,
            max_audio_seconds=args.llm_max_audio_seconds,
            timeout_s=args.llm_timeout,
        )
        return LLMMethod(LLMLabeller(ChatClient(settings)))
    if args.method == "essentia":
        from musae_core.labeling.methods import TaggerMethod
        from musae_core.labeling.taggers import EssentiaTagger

        if not args.essentia_embedding or not args.essentia_head:
            raise MusaeError(
                "--method essentia needs --essentia-embedding and --essentia-head.",
                "download both from essentia.upf.edu/models (see musae_core/labeling/taggers.py).",
            )
        return TaggerMethod(
            EssentiaTagger(args.essentia_embedding, args.essentia_head), top_k=args.top_k
        )
    if args.method in FILE_CLASSIFIERS:
        return file_classifier_method(args.method, args.classifier, args.top_k)
    return None


def cmd_associate(args: argparse.Namespace, db: FeatureDB) -> int:
    """``--associate STORE``: association labels from the method's tagger over every clip."""
    from musae_core.features.sae_match import check_db_matches_sae
    from musae_core.harvest.store import ActivationStore
    from musae_core.labeling.tag_association import label_by_association
    from musae_core.sae import load_sae

    if args.method not in ("essentia", *FILE_CLASSIFIERS):
        raise MusaeError(
            f"--associate needs a clip tagger; --method {args.method} is not one.",
            "use --method classifier (with --classifier) or --method essentia.",
        )
    tagger = _build_method(args, None).tagger
    sae_path = args.sae or db.meta().get("sae_path")
    if not sae_path:
        raise MusaeError(f"{args.db} does not record its SAE.", "pass --sae SAE_FOLDER.")
    sae = load_sae(sae_path)
    warning = check_db_matches_sae(db, sae, str(sae_path))
    if warning:
        print(warning)
    stage, close = stage_bars()
    try:
        summary = label_by_association(
            db,
            sae,
            ActivationStore.open(args.associate),
            tagger,
            min_auroc=args.min_auroc,
            progress=stage,
            cancel=args.cancel,
        )
    finally:
        close()
    print(
        f"{summary.job}: {summary.clips} clips tagged; {summary.labelled} features labelled, "
        f"{summary.skipped} already done, {summary.weak} below AUROC {args.min_auroc}, "
        f"{summary.silent} silent on these clips."
    )
    return 0


def cmd_label(args: argparse.Namespace) -> int:
    from musae_core.labeling.label_job import all_feature_ids, parse_feature_list, run_label_job

    db = open_feature_db(args.db)
    if args.associate:
        return cmd_associate(args, db)
    if not args.all and not args.features:
        raise MusaeError("No features selected.", "pass --features IDS or --all.")
    ids = all_feature_ids(db) if args.all else parse_feature_list(args.features)
    if not ids:
        raise MusaeError("No features selected.", "pass --features IDS or --all.")
    needs_clap = args.method in ("clap", "validate") or args.validate
    cache = validator = None
    if needs_clap:
        from musae_core.labeling.clap import DEFAULT_CLAP_ID, download_clap, load_clap
        from musae_core.labeling.methods import ClapValidator, EmbeddingCache

        clap_id = args.clap_model or DEFAULT_CLAP_ID
        if args.download_clap and clap_id != "tiny" and not Path(clap_id).is_dir():
            download_clap(clap_id)
        embedder = load_clap(clap_id, device=args.device, allow_download=args.download_clap)
        cache = EmbeddingCache(embedder)
        if args.method == "validate" or args.validate:
            validator = ClapValidator(cache)
    method = _build_method(args, cache)
    update, bar = progress_bar(f"label {args.method}", unit="feature")
    try:
        summary = run_label_job(
            db,
            method,
            ids,
            validator,
            baseline_size=args.baseline_size,
            seed=args.seed,
            max_top_clips=args.top_clips,
            limit=args.limit,
            progress=update,
            cancel=args.cancel,
        )
    finally:
        bar.close()
    print(
        f"{summary.job}: {summary.done} features labelled, {summary.skipped} already done, "
        f"{summary.failed} failed; {summary.labels_added} labels added, "
        f"{summary.validated} validated."
    )
    if summary.never_fired:
        print(
            f"  skipped {len(summary.never_fired)} feature(s) that never fired over the "
            "analysed activations (dead: no top clips to label)"
        )
    for feature_id, message in summary.errors[:10]:
        print(f"  feature {feature_id}: {message}")
    if summary.stopped == "cancelled":
        return stopped_exit(args)
    if summary.stopped:
        print(f"stopped: {summary.stopped}. Run the same command again to continue.")
    return 0
