"""The ``musae`` command: one subcommand per engine job, tqdm progress, Ctrl+C stops cleanly.

Every user-facing problem is a ``MusaeError``: printed as one line, exit code 2, no partial files.
The plumbing every subcommand shares (progress, Ctrl+C, the error exit) is ``cli_support``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from musae_core import threads
from musae_core.cli_support import check_output, progress_bar, run_command
from musae_core.steer_specs import interventions_from_args

log = logging.getLogger("musae")

SUBCOMMAND_MODULES = (
    "musae_core.models.convert_cli",
    "musae_core.harvest.cli",
    "musae_core.sae.cli",
    "musae_core.features.cli",
    "musae_core.workstation.pages.cli",
    "musae_core.features.stamp_cli",
    "musae_core.features.map_cli",
    "musae_core.labeling.cli",
    "musae_core.labeling.steering_eval_cli",
    "musae_core.demo.cli",
    "musae_core.features.sweep_cli",
)
"""The subcommand table: each module has ``register(subparsers)`` and lives with its concept.

All are part of musae (none is optional). ``musae_core.demo.cli`` is the one entry for the demo's
subcommands: the table is the CLI's only registration point for the demo, which is a leaf.
To add a subcommand: a ``register`` beside its concept, ``cli_support`` for progress and errors,
``kept=`` on its parser when Ctrl+C should stop it at a safe point, and a line here.
"""


def cmd_generate(args: argparse.Namespace) -> int:
    if args.continue_from or args.punch_from is not None:  # punch-in (musae_core.punch)
        from musae_core.punch.cli import continue_take

        return continue_take(args)
    from musae_core.audio.io import write_take_files
    from musae_core.models.base import GenerationRequest
    from musae_core.models.loading import load_model
    from musae_core.models.sampling import SamplingSettings
    from musae_core.render import render, take_metadata

    out = Path(args.out)
    check_output(out, (".wav", ".flac"))
    request = GenerationRequest(
        prompts=tuple(args.prompt),
        duration=args.duration,
        seed=args.seed,
        variants=args.variants,
        sampling=SamplingSettings.from_dict(vars(args)),
    )
    model = load_model(args.model, device=args.device, dtype=args.dtype)
    model.n_frames_for(request.duration)  # validates the duration before any work
    interventions = interventions_from_args(args, model)
    cancel = args.cancel
    update, bar = progress_bar("generating")
    try:
        take = render(model, request, interventions, progress=update, cancel=cancel)
    finally:
        bar.close()
    for index in range(take.audio.shape[0]):
        path = out if index == 0 else out.with_name(f"{out.stem}-{index}{out.suffix}")
        wav, meta = write_take_files(
            path, take.audio[index], take.sample_rate, take_metadata(model, take, index)
        )
        print(f"wrote {wav} and {meta}")
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    """MusicGen ids fetch safetensors only; CLAP ids (labelling) go through download_clap,
    which also takes the .bin the LAION music checkpoints still ship."""
    kind = args.kind
    if kind == "auto":
        kind = "clap" if "clap" in args.model_id.lower() else "model"
    if kind == "clap":
        from musae_core.labeling.clap import download_clap

        path = download_clap(args.model_id, cache_dir=args.cache_dir)
        print(f"downloaded {args.model_id} to {path}")
        return 0
    from musae_core.models.loading import download_model

    path = download_model(args.model_id, cache_dir=args.cache_dir)
    print(f"downloaded {args.model_id} to {path}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from musae_core.models.loading import load_model

    model = load_model(args.model, device=args.device, dtype=args.dtype)
    print(f"model        {model.model_id}")
    print(
        f"layers       {model.num_layers} "
        f"(residual hooks {model.hook_points()[0]} ... {model.hook_points()[-1]})"
    )
    print(f"d_model      {model.d_model}")
    print(f"codebooks    {model.num_codebooks}")
    print(f"sample rate  {model.sample_rate} Hz, frame rate {model.frame_rate:g} Hz")
    print(f"max duration {model.max_duration:g} s")
    print(f"device       {model.device} {model.dtype}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="musae",
        description="Discover, label and steer interpretable features (sparse autoencoders) "
        "inside music-generation models. The desktop app is `musae-app` (or `make run`).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True)

    def model_args(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--model",
            default="tiny",
            help="'tiny', 'demo' (the embedded demo), a folder, or e.g. facebook/musicgen-small",
        )
        p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
        p.add_argument("--dtype", default="auto", help="auto, fp32, fp16 or bf16")

    gen = sub.add_parser("generate", help="generate (and steer) a take, write WAV + JSON sidecar")
    model_args(gen)
    gen.add_argument("--prompt", action="append", default=None, help="text prompt (repeatable)")
    gen.add_argument("--duration", type=float, default=5.0, help="seconds of audio")
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--temperature", type=float, default=1.0, help="0 means greedy")
    gen.add_argument("--top-k", type=int, default=250)
    gen.add_argument("--top-p", type=float, default=0.0)
    gen.add_argument(
        "--cfg-scale", type=float, default=3.0, help="classifier-free guidance; 1 turns it off"
    )
    gen.add_argument("--variants", type=int, default=1, help="takes per prompt")
    gen.add_argument("--sae", help="SAE folder: then --steer takes FEATURE_ID=ALPHA")
    gen.add_argument(
        "--features",
        help="feature database of that SAE (checked against it; "
        "its max activation is beta only where the SAE records none)",
    )
    gen.add_argument(
        "--steer",
        action="append",
        default=[],
        metavar="VECTOR.npy:LAYER:STRENGTH | FEATURE_ID=ALPHA",
        help="repeatable; with --sae: alpha * max act * decoder row",
    )
    gen.add_argument("--steer-mode", choices=["add", "relative", "clamp"], default="add")
    gen.add_argument(
        "--cfg-branch", choices=["both", "conditional", "unconditional"], default="both"
    )
    gen.add_argument(
        "--out", required=True, help="output .wav (a .json sidecar is written beside it)"
    )
    gen.add_argument(
        "--continue",
        dest="continue_from",
        metavar="TAKE.json",
        help="punch-in: continue this take (its sidecar) instead of a new one",
    )
    gen.add_argument(
        "--from",
        dest="punch_from",
        type=float,
        metavar="SECONDS",
        help="with --continue: keep the take before SECONDS, steer from there on",
    )
    gen.set_defaults(func=cmd_generate, kept="no take was written")

    dl = sub.add_parser("download", help="download a model's weights into the Hugging Face cache")
    dl.add_argument("model_id")
    dl.add_argument("--cache-dir", default=None)
    dl.add_argument(
        "--kind",
        choices=["auto", "model", "clap"],
        default="auto",
        help="auto: ids with 'clap' are CLAP checkpoints",
    )
    dl.set_defaults(func=cmd_download)

    info = sub.add_parser("info", help="print a model's layers, width, rates and limits")
    model_args(info)
    info.set_defaults(func=cmd_info)
    for module_name in SUBCOMMAND_MODULES:
        importlib.import_module(module_name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    threads.prepare()  # before any subcommand imports torch (OpenMP reads it once)
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "prompt", "unset") is None:
        args.prompt = [""]
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    return run_command(args)


if __name__ == "__main__":
    sys.exit(main())
