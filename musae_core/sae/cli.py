"""`musae train` and `musae eval-sae`: SAEs from an activation store (or live from a model).

Under ``torchrun --nproc_per_node N -m musae_core.cli train ...`` the ranks split the batches
and average gradients (data parallel); rank 0 writes checkpoints and the SAE.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from musae_core.cli_support import progress_bar
from musae_core.errors import MusaeError


def _metrics_postfix(bar):
    def show(metrics: dict) -> None:
        bar.set_postfix(
            fvu=f"{metrics['fvu']:.3f}",
            l0=f"{metrics['l0']:.1f}",
            dead=f"{metrics['dead_fraction']:.1%}",
            refresh=False,
        )

    return show


def cmd_train(args: argparse.Namespace) -> int:
    from musae_core.harvest.distributed import distributed, rank_device
    from musae_core.harvest.store import ActivationStore
    from musae_core.models.devices import select_device
    from musae_core.sae.budget import plan_budget
    from musae_core.sae.sources import live_batches, store_batches
    from musae_core.sae.trainer import TrainSettings, train_sae

    with distributed(args.device) as ctx:
        device = select_device(rank_device(args.device, ctx))
        if args.store:
            store = ActivationStore.open(args.store)
            rows = store.num_rows(args.layer) if args.layer in store.layers else None
            budget = plan_budget(
                rows, args.batch_size, args.tokens, args.passes, world_size=ctx.world_size
            )
            factory = store_batches(store, args.layer, budget.batch_size, seed=args.seed)
            model_id, d_in = store.meta.get("model_id", ""), store.d_model
        else:
            from musae_core.models.loading import load_model

            budget = plan_budget(None, args.batch_size, args.tokens, args.passes)
            model = load_model(args.model, device=str(device), dtype=args.model_dtype)
            factory = live_batches(model, args.audio, args.layer, budget.batch_size, seed=args.seed)
            model_id, d_in = model.model_id, model.d_model
        if ctx.is_main:
            for line in budget.warnings:
                print(f"musae: warning: {line}", file=sys.stderr)
            for line in budget.notes:
                print(f"musae: {line}", file=sys.stderr, flush=True)
        settings = TrainSettings(
            architecture=args.arch,
            expansion=args.expansion,
            k=args.k,
            total_tokens=budget.tokens,
            batch_size=budget.batch_size,
            lr=args.lr,
            seed=args.seed,
            checkpoint_every=args.checkpoint_every,
            l1_coefficient=args.l1_coefficient,
            l0_coefficient=args.l0_coefficient,
            aux_coefficient=args.aux_coefficient,
            matryoshka_widths=parse_widths(args.matryoshka_widths),
        )
        update, bar = progress_bar("training") if ctx.is_main else (None, None)
        try:
            show = _metrics_postfix(bar) if bar is not None else None
            sae = train_sae(
                factory,
                d_in,
                settings,
                args.out,
                model_id=model_id,
                layer=args.layer,
                device=device,
                progress=update,
                cancel=args.cancel,
                on_metrics=show,
            )
        finally:
            if bar is not None:
                bar.close()
    if ctx.is_main:
        skipped = sae.cfg.extra.get("skipped_nonfinite_rows", 0)
        if skipped:
            print(f"musae: warning: skipped {skipped} rows with NaN/inf values", file=sys.stderr)
        print(
            f"wrote {args.out}: {sae.cfg.architecture} d_in={sae.cfg.d_in} "
            f"d_sae={sae.cfg.d_sae} k={sae.cfg.k} tokens={sae.cfg.training_tokens}"
        )
    return 0


def kept_checkpoint(args: argparse.Namespace) -> str:
    """What a stopped training keeps: the checkpoint it wrote on the way out."""
    import torch

    from musae_core.sae.trainer import CHECKPOINT

    path = Path(args.out) / CHECKPOINT
    if not path.is_file():
        return f"no checkpoint was written to {args.out}"
    try:
        step = json.loads(torch.load(path, map_location="cpu", weights_only=True)["state"])["step"]
    except Exception:  # torch raises many types for a truncated file; resume says which
        return f"a checkpoint is in {args.out}; run the same command to resume"
    return f"the checkpoint at step {step} is in {args.out}; run the same command to resume"


def _heldout_codes(model, audio: str, max_clips: int, clip_seconds: float) -> list:
    from itertools import islice

    from musae_core.harvest.collection import list_audio_files
    from musae_core.sae.sources import encoded_clips

    return list(islice(encoded_clips(model, list_audio_files(audio), clip_seconds), max_clips))


def cmd_eval(args: argparse.Namespace) -> int:
    from musae_core.fileio import write_json_atomic
    from musae_core.harvest.store import ActivationStore
    from musae_core.sae.evaluate import check_compatible, delta_loss, reconstruction_metrics
    from musae_core.sae.io import load_sae
    from musae_core.sae.sources import split_holdout

    sae = load_sae(args.sae)
    results: dict = {"sae": str(Path(args.sae).resolve())}
    if args.store:
        store = ActivationStore.open(args.store)
        check_compatible(
            sae,
            store.meta.get("model_id", ""),
            list(store.layers),
            store.d_model,
            f"store {args.store}",
        )
        batches = split_holdout(store, sae.cfg.layer, args.holdout_fraction, 4096)
        results["reconstruction"] = reconstruction_metrics(sae, batches, args.dense_threshold)
    if args.audio:
        from musae_core.models.loading import load_model

        model = load_model(args.model or sae.cfg.model_id or "tiny", device=args.device)
        codes = _heldout_codes(model, args.audio, args.max_clips, args.clip_seconds)
        update, bar = progress_bar("delta-loss", unit="clip")
        try:
            results["delta_loss"] = delta_loss(model, sae.to(model.device), codes, progress=update)
        finally:
            bar.close()
    if len(results) == 1:
        raise MusaeError("Nothing to evaluate.", "pass --store and/or --model with --audio.")
    for section, values in results.items():
        if isinstance(values, dict):
            print(f"[{section}]")
            for key, value in values.items():
                text = f"{value:.4f}" if isinstance(value, float) else str(value)
                print(f"  {key:<24}{text}")
    out = Path(args.out) if args.out else Path(args.sae) / "eval.json"
    write_json_atomic(out, json.loads(json.dumps(results, default=float)))
    print(f"wrote {out}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from musae_core.sae.architectures import REGISTRY

    t = sub.add_parser(
        "train",
        help="train a sparse autoencoder on residual activations",
        description=__doc__.splitlines()[0],
    )
    source = t.add_mutually_exclusive_group(required=True)
    source.add_argument("--store", help="activation store from `musae harvest`")
    source.add_argument("--audio", help="train live from --model over these audio files")
    t.add_argument("--model", default="tiny", help="model for --audio (live training)")
    t.add_argument("--model-dtype", default="auto")
    t.add_argument("--layer", type=int, required=True)
    t.add_argument("--arch", choices=sorted(REGISTRY), default="topk")
    t.add_argument("--expansion", type=int, default=32, help="d_sae = expansion * d_model")
    t.add_argument("--k", type=int, default=32, help="active latents (topk, batchtopk)")
    t.add_argument(
        "--tokens",
        type=int,
        default=None,
        help="training rows in total (default: --passes over the store, at most 10,000,000)",
    )
    t.add_argument(
        "--passes",
        type=float,
        default=10.0,
        help="passes over the store when --tokens is not given",
    )
    t.add_argument("--batch-size", type=int, default=4096)
    t.add_argument(
        "--matryoshka-widths",
        default=None,
        help="matryoshka_batchtopk: nested prefix sizes, e.g. 16,64,256,1024 (d_sae is added; "
        "default d_sae/16, /8, /4, /2)",
    )
    t.add_argument("--lr", type=float, default=None, help="default 2e-4/sqrt(d_sae/16384)")
    t.add_argument("--l1-coefficient", type=float, default=2.0, help="relu L1 weight")
    t.add_argument("--l0-coefficient", type=float, default=1e-3, help="jumprelu")
    t.add_argument("--aux-coefficient", type=float, default=1 / 32, help="AuxK loss weight")
    t.add_argument("--checkpoint-every", type=int, default=200, help="steps")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="auto")
    t.add_argument("--out", required=True, help="SAE folder (resumes from its checkpoint)")
    t.set_defaults(func=cmd_train, kept=kept_checkpoint)

    e = sub.add_parser("eval-sae", help="FVU, L0, dead/dense fractions and delta-loss of an SAE")
    e.add_argument("--sae", required=True)
    e.add_argument("--store", help="activation store: reconstruction metrics on held-out shards")
    e.add_argument(
        "--holdout-fraction",
        type=float,
        default=0.1,
        help="last fraction of shards to evaluate on (0 = all)",
    )
    e.add_argument("--dense-threshold", type=float, default=0.25)
    e.add_argument("--model", help="model for the delta-loss (default: the SAE's model id)")
    e.add_argument("--audio", help="held-out audio for the delta-loss")
    e.add_argument("--max-clips", type=int, default=16)
    e.add_argument("--clip-seconds", type=float, default=10.0)
    e.add_argument("--device", default="auto")
    e.add_argument("--out", help="JSON report (default SAE_DIR/eval.json)")
    e.set_defaults(func=cmd_eval)


def parse_widths(text: str | None) -> tuple[int, ...] | None:
    """``--matryoshka-widths`` as sizes (None when not given); refuses what is not a size."""
    if not text:
        return None
    try:
        widths = tuple(int(w) for w in text.split(",") if w.strip())
    except ValueError as exc:
        raise MusaeError(
            f"--matryoshka-widths {text!r} is not a list of sizes.", "pass e.g. 16,64,256,1024."
        ) from exc
    if not widths or min(widths) < 1:
        raise MusaeError(f"--matryoshka-widths {text!r} has no positive size.", "pass e.g. 16,64.")
    return widths
