"""`musae demo ...`: build the demo corpus, train the demo model, its features, score them."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from musae_core.cli_support import log_line, progress_bar, stage_bars
from musae_core.demo.corpus import CorpusSpec, build_corpus


def cmd_build_corpus(args: argparse.Namespace) -> int:
    n_clips = args.clips or max(1, round(args.hours * 3600 / args.clip_seconds))
    spec = CorpusSpec(
        n_clips=n_clips,
        seed=args.seed,
        clip_seconds=args.clip_seconds,
        sample_rate=args.sample_rate,
    )
    update, bar = progress_bar("rendering corpus", unit="clip")
    try:
        out = build_corpus(args.out, spec, args.soundfont, args.workers, update, args.cancel)
    finally:
        bar.close()
    print(f"corpus of {n_clips} clips ({n_clips * args.clip_seconds / 3600:.2f} h) in {out}")
    return 0


def kept_clips(args: argparse.Namespace) -> str:
    """What a stopped corpus build keeps: every clip rendered so far (a re-run skips them)."""
    clips = Path(args.out) / "clips"
    done = len(list(clips.glob("*.json"))) if clips.is_dir() else 0
    return f"{done} rendered clip(s) are kept in {args.out}; run the same command to resume"


def cmd_derive_truth(args: argparse.Namespace) -> int:
    from musae_core.demo.truth import derive_corpus_truth

    update, bar = progress_bar("deriving truth", unit="clip")
    try:
        written = derive_corpus_truth(args.corpus, args.overwrite, update, args.cancel)
    finally:
        bar.close()
    print(f"per-frame truth written for {written} clips of {args.corpus} (no audio rendered)")
    return 0


def cmd_truth_table(args: argparse.Namespace) -> int:
    from musae_core.demo.truth_table import write_store_truth

    truth = write_store_truth(args.corpus, args.store, args.out, args.clips)
    print(
        f"{len(truth.names)} concepts x {len(truth.frames)} frames "
        f"({len(set(truth.clip_ids.tolist()))} clips) in {args.out}"
    )
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from musae_core.demo.train import DemoTrainSpec, train_demo

    spec = DemoTrainSpec()
    spec.codec_train.iterations = args.codec_iterations
    spec.codec_train.seed = args.seed
    spec.lm_train.minutes = args.lm_minutes
    spec.lm_train.seed = args.seed
    spec.lm_train.max_steps = args.lm_steps
    spec.lm_train.batch = args.lm_batch
    spec.lm_train.device = _device(args.device)
    spec.lm_train.mode_contrast = args.mode_contrast
    spec.lm_train.contrast_margin = args.contrast_margin
    spec.lm_train.contrast_frames = args.contrast_frames
    _check_lm_size(args.lm_batch, args.lm_width, args.lm_layers)
    if args.lm_width is not None:
        spec.shape = replace(
            spec.shape,
            hidden_size=args.lm_width,
            ffn_dim=4 * args.lm_width,
            num_heads=max(1, args.lm_width // 32),
        )
    if args.lm_layers is not None:
        spec.shape = replace(spec.shape, num_layers=args.lm_layers)
    progress, close = stage_bars()
    try:  # Ctrl+C: checkpoint and stop
        folder = train_demo(args.corpus, args.out, spec, progress, args.cancel, log=log_line)
    finally:
        close()
    print(f"demo model in {folder}")
    return 0


def _check_lm_size(batch: int, width: int | None, layers: int | None) -> None:
    """Refuse sizes transformers would reject only after the codec stage has run."""
    from musae_core.errors import MusaeError

    if batch < 1 or (layers is not None and layers < 1):
        raise MusaeError("--lm-batch and --lm-layers must be >= 1.", "e.g. --lm-batch 8.")
    if width is not None and (width < 32 or width % 32):
        raise MusaeError(
            f"--lm-width {width} is not a multiple of 32 (the head size).",
            "use e.g. --lm-width 256.",
        )


def _device(name: str) -> str:
    """'auto' -> cuda when a GPU is visible, else cpu; a missing GPU asked for by name fails."""
    import torch

    from musae_core.errors import MusaeError

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise MusaeError("--device cuda, but torch sees no GPU.", "use --device cpu (or auto).")
    return name


def cmd_features(args: argparse.Namespace) -> int:
    from musae_core.demo.features_build import FeatureBuildSpec, build_demo_features

    spec = FeatureBuildSpec(
        layer=args.layer,
        expansion=args.expansion,
        k=args.k,
        epochs=args.epochs,
        seed=args.seed,
        analysis_train_clips=args.analysis_train_clips,
        classifier_corpus=args.classifier_corpus,
        architecture=args.arch,
        sae_from=args.sae_from,
    )
    progress, close = stage_bars()
    try:  # stages resume: rerun the command after a Ctrl+C
        out = build_demo_features(
            args.model, args.corpus, args.out, spec, progress, args.cancel, log=log_line
        )
    finally:
        close()
    print(f"features, SAE and labels in {out}")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from musae_core.demo.score import ScoreSpec, run_score
    from musae_core.demo.scorecard_doc import save_scorecard, scorecard_markdown
    from musae_core.demo.steering_score import SteeringScoreSettings

    steering = SteeringScoreSettings(
        alpha=args.alpha, max_features=args.max_features, duration=args.take_seconds, seed=args.seed
    )
    spec = ScoreSpec(
        steering=steering,
        seed=args.seed,
        truth=args.truth,
        label_fine=args.label_fine,
        steering_prompts=args.prompts,
        concept_steering_features=args.concept_features,
        concept_alphas=tuple(args.alphas),
        analysis_train_clips=args.analysis_train_clips,
        prompts_section=not args.skip_prompt_following,
        window_probes=not args.skip_window_probes,
        concept_frame_stride=args.frame_stride,
        truth_lag=args.truth_lag,
    )
    progress, close = stage_bars()
    try:
        report = run_score(args.model, args.features, args.corpus, spec, progress, args.cancel)
    finally:
        close()
    json_path, md_path = save_scorecard(report, args.out)
    if args.write_db:
        from musae_core.demo.concept_score import store_concept_groups

        db_path = Path(args.features) / "features.db" if args.write_db is True else args.write_db
        written = store_concept_groups(db_path, report["concepts"]["rows"])
        print(f"wrote {written} concept-group rows to {db_path}")
    print(scorecard_markdown(report))
    print(f"wrote {json_path} and {md_path}")
    return 0


def cmd_ship(args: argparse.Namespace) -> int:
    from musae_core.demo.ship import ship_demo

    project = ship_demo(args.model, args.features, args.to)
    print(f"shipped the demo to {project.parent} (project {project.name})")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser("demo", help="the embedded demo model and its ground-truth corpus")
    demo_sub = demo.add_subparsers(dest="demo_command", required=True)
    build = demo_sub.add_parser("build-corpus", help="render the ground-truth music corpus")
    build.add_argument("--out", required=True, help="corpus folder (resumes if it exists)")
    build.add_argument("--hours", type=float, default=3.0, help="total audio to render")
    build.add_argument(
        "--clips", type=int, default=None, help="number of clips (overrides --hours)"
    )
    build.add_argument("--clip-seconds", type=float, default=10.0)
    build.add_argument("--seed", type=int, default=0)
    build.add_argument(
        "--sample-rate", type=int, default=16_000, help="render rate (the demo codec's is 16 kHz)"
    )
    build.add_argument("--workers", type=int, default=2)
    build.add_argument("--soundfont", default=None, help="General MIDI .sf2 (default: FluidR3)")
    build.set_defaults(func=cmd_build_corpus, kept=kept_clips)
    derive = demo_sub.add_parser(
        "derive-truth", help="write the per-frame truth of an old corpus from its seed (no audio)"
    )
    derive.add_argument("--corpus", required=True, help="folder from `musae demo build-corpus`")
    derive.add_argument("--overwrite", action="store_true", help="rewrite existing truth files")
    derive.set_defaults(
        func=cmd_derive_truth,
        kept="the truth files written so far are kept; run the same command to finish the rest",
    )
    table = demo_sub.add_parser(
        "truth", help="the corpus's per-frame concept truth aligned to a store's rows (.npz)"
    )
    table.add_argument("--corpus", required=True, help="the corpus the store was harvested from")
    table.add_argument("--store", required=True, help="activation store over CORPUS/clips")
    table.add_argument("--out", required=True, help="truth table .npz (for `musae sweep --truth`)")
    table.add_argument(
        "--clips", type=int, default=100, help="held-out clips (and as many training clips)"
    )
    table.set_defaults(func=cmd_truth_table)
    train = demo_sub.add_parser(
        "train", help="train the demo codec and music model from a corpus (resumable)"
    )
    train.add_argument("--corpus", required=True, help="folder from `musae demo build-corpus`")
    train.add_argument("--out", required=True, help="work folder; the model lands in OUT/model")
    train.add_argument(
        "--codec-iterations", type=int, default=20, help="k-means iterations per codebook"
    )
    train.add_argument("--lm-minutes", type=float, default=40.0, help="wall-clock budget")
    train.add_argument(
        "--lm-steps",
        type=int,
        default=None,
        help="a step budget: the LM stops after this many steps and its learning-rate "
        "schedule follows steps, so the same steps give the same model on any machine "
        "(--lm-minutes still caps the time); without it the schedule follows the clock",
    )
    train.add_argument("--lm-batch", type=int, default=8, help="clips per LM step (GPU: 64)")
    train.add_argument(
        "--lm-width",
        type=int,
        default=None,
        help="width of the decoder and text encoder (default 192; a multiple of 32, the head size)",
    )
    train.add_argument("--lm-layers", type=int, default=None, help="decoder layers (default 4)")
    train.add_argument(
        "--mode-contrast",
        type=float,
        default=0.0,
        help="weight of the caption-contrast term (experimental, see docs/demo.md): the "
        "mode-flipped caption must cost --contrast-margin nats/token more (0: plain loss)",
    )
    train.add_argument("--contrast-margin", type=float, default=0.3, help="nats per token")
    train.add_argument(
        "--contrast-frames", type=int, default=50, help="opening frames the contrast scores"
    )
    train.add_argument(
        "--device",
        choices=("cpu", "cuda", "auto"),
        default="cpu",
        help="where the LM trains (cuda: bf16 autocast); the shipped model is device-free",
    )
    train.add_argument("--seed", type=int, default=0)
    train.set_defaults(
        func=cmd_train,
        kept=lambda a: f"checkpoints are in {a.out}; run the same command to resume",
    )
    feats = demo_sub.add_parser(
        "features", help="harvest, SAE, feature database and labels of the demo model (resumable)"
    )
    feats.add_argument("--model", required=True, help="demo model folder (OUT/model of train)")
    feats.add_argument("--corpus", required=True, help="folder from `musae demo build-corpus`")
    feats.add_argument("--out", required=True, help="work folder for stores, SAE, database")
    feats.add_argument("--layer", type=int, default=None, help="default: the middle layer")
    feats.add_argument("--expansion", type=int, default=16, help="d_sae = expansion * d_model")
    feats.add_argument("--k", type=int, default=32, help="active latents per frame")
    feats.add_argument("--epochs", type=float, default=3.0, help="passes over the training rows")
    feats.add_argument("--arch", default="topk", help="SAE architecture (as musae train --arch)")
    feats.add_argument(
        "--sae-from",
        default=None,
        help="a trained SAE folder to use instead of training one (e.g. the best cell of "
        "`musae sweep`); its layer must be the build's",
    )
    feats.add_argument(
        "--analysis-train-clips",
        type=int,
        default=300,
        help="training clips analysed beside the held-out ones",
    )
    feats.add_argument(
        "--classifier-corpus",
        default=None,
        help="a corpus built with another --seed: every clip of it joins the "
        "held-out clips the factor classifier is fitted on",
    )
    feats.add_argument("--seed", type=int, default=0)
    feats.set_defaults(
        func=cmd_features,
        kept=lambda a: f"finished stages are in {a.out}; run the same command to resume",
    )
    score = demo_sub.add_parser("score", help="the ground-truth scorecard of a features folder")
    score.add_argument("--model", required=True, help="demo model folder")
    score.add_argument("--features", required=True, help="folder from `musae demo features`")
    score.add_argument("--corpus", required=True, help="the corpus the features were built on")
    score.add_argument(
        "--out",
        default="docs/demo_scorecard_levels",
        help="writes OUT.json and OUT.md (docs/demo_scorecard.md is the hand-written report)",
    )
    score.add_argument("--alpha", type=float, default=4.0, help="steering strength (x beta)")
    score.add_argument("--max-features", type=int, default=48, help="features steered")
    score.add_argument("--take-seconds", type=float, default=4.0, help="steered take length")
    score.add_argument("--seed", type=int, default=0)
    score.add_argument(
        "--truth",
        default=None,
        help="per-frame concept truth (.npz, ConceptTruth); default: re-derive "
        "it from the corpus's clip seeds",
    )
    score.add_argument(
        "--label-fine",
        action="store_true",
        help="first label the tracking features with the fine-concept DSP "
        "labeller (writes the features folder's features.db)",
    )
    score.add_argument("--prompts", type=int, default=8, help="paired takes per steering test")
    score.add_argument(
        "--concept-features",
        type=int,
        default=24,
        help="concept features steered (tracking ones; if none, each "
        "carried concept's best single feature)",
    )
    score.add_argument(
        "--alphas",
        type=float,
        nargs="+",
        default=[2.0, 4.0, 8.0],
        help="steering strengths tried per concept feature (x beta)",
    )
    score.add_argument(
        "--analysis-train-clips",
        type=int,
        default=300,
        help="training clips harvested beside the held-out ones when the "
        "features folder has no store_analysis",
    )
    score.add_argument(
        "--skip-window-probes",
        action="store_true",
        help="leave out the per-factor window probes (the concept section has per-concept probes)",
    )
    score.add_argument(
        "--frame-stride",
        type=int,
        default=1,
        help="score every N-th frame in the concept section (CPU time / N)",
    )
    score.add_argument(
        "--truth-lag",
        type=int,
        default=1,
        help="match store row t with audio frame t - LAG (teacher forcing shifts "
        "tokens by one frame; 1 was best on calibration clips)",
    )
    score.add_argument(
        "--write-db",
        nargs="?",
        const=True,
        default=None,
        metavar="DB",
        help="store each concept's feature group in DB (default: the features "
        "folder's features.db) for the app",
    )
    score.add_argument(
        "--skip-prompt-following",
        action="store_true",
        help="leave out the prompt-following section (saves generation time)",
    )
    score.set_defaults(func=cmd_score, kept="no scorecard was written")
    ship = demo_sub.add_parser("ship", help="copy a trained demo into resources/demo")
    ship.add_argument("--model", required=True, help="demo model folder")
    ship.add_argument("--features", required=True, help="folder from `musae demo features`")
    ship.add_argument("--to", default="resources/demo", help="destination folder")
    ship.set_defaults(func=cmd_ship)
