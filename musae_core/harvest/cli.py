"""`musae harvest`: residual activations of audio files (or of generations) -> activation store.

Under ``torchrun --nproc_per_node N -m musae_core.cli harvest ...`` every rank harvests its share
of the collection into its own shards of the same store.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from musae_core.cli_support import progress_bar
from musae_core.errors import MusaeError


def parse_layers(text: str, num_layers: int) -> tuple[int, ...]:
    """'12,18' -> (12, 18); 'all' -> every layer."""
    if text.strip() == "all":
        return tuple(range(num_layers))
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise MusaeError(
            f"Bad --layers {text!r}.", "use comma-separated numbers, e.g. 12,18."
        ) from exc


def cmd_harvest(args: argparse.Namespace) -> int:
    from musae_core.harvest.collection import load_captions, read_prompts
    from musae_core.harvest.config import GenerationSettings, HarvestConfig
    from musae_core.harvest.distributed import distributed, rank_device
    from musae_core.harvest.generations import harvest_generations
    from musae_core.harvest.harvester import harvest_audio
    from musae_core.models.loading import load_model
    from musae_core.models.sampling import SamplingSettings

    if args.captions and args.prompts:
        raise MusaeError("--captions applies to --audio, not --prompts.", "drop --captions.")
    captions = load_captions(args.captions) if args.captions else None
    prompts = read_prompts(args.prompts) if args.prompts else None
    with distributed(args.device) as ctx:
        model = load_model(args.model, device=rank_device(args.device, ctx), dtype=args.model_dtype)
        config = HarvestConfig(
            layers=parse_layers(args.layers, model.num_layers),
            clip_seconds=args.clip_seconds,
            min_clip_seconds=args.min_clip_seconds,
            batch_size=args.batch_size,
            shard_rows=args.shard_rows,
            dtype=args.dtype,
            background_writes=not args.no_background_writes,
        )
        update, bar = None, None
        if ctx.is_main:  # one bar (rank 0's share) rather than one per rank
            update, bar = progress_bar("harvesting", unit="take" if prompts else "file")
        try:
            if prompts is not None:
                settings = GenerationSettings(
                    duration=args.duration,
                    seed=args.seed,
                    variants=args.variants,
                    sampling=SamplingSettings.from_dict(vars(args)),
                )
                report = harvest_generations(
                    model,
                    prompts,
                    args.out,
                    config,
                    settings,
                    progress=update,
                    cancel=args.cancel,
                    dist_ctx=ctx,
                )
            else:
                report = harvest_audio(
                    model,
                    args.audio,
                    args.out,
                    config,
                    captions=captions,
                    progress=update,
                    cancel=args.cancel,
                    dist_ctx=ctx,
                )
        finally:
            if bar is not None:
                bar.close()
    if ctx.is_main:
        for line in report.warnings():
            print(f"musae: warning: {line}", file=sys.stderr)
        print(report.summary())
    return 0


def kept_shards(args: argparse.Namespace) -> str:
    """What a stopped harvest keeps: its finished shards, which a re-run skips."""
    from musae_core.harvest.store import META_FILE, ActivationStore

    if not (Path(args.out) / META_FILE).is_file():
        return f"no store was written to {args.out}"
    store = ActivationStore.open(args.out)
    shards, clips = len(store.shard_names()), len(store.done_clips())
    return (
        f"{shards} finished shard(s) ({clips} clips) are kept in {args.out}; "
        "run the same command to resume"
    )


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "harvest",
        help="store residual activations of an audio collection (or of generations)",
        description=__doc__.splitlines()[0],
    )
    p.add_argument("--model", default="tiny", help="'tiny', 'demo', a folder or a Hugging Face id")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--model-dtype", default="auto", help="model weights: auto, fp32, fp16, bf16")
    p.add_argument("--layers", required=True, help="comma-separated layers, e.g. 12,18, or 'all'")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--audio", help="folder of audio files, a list file, or one audio file")
    source.add_argument(
        "--prompts",
        help="text file (one prompt a line) or JSON list: harvest the model's own generations",
    )
    p.add_argument(
        "--captions",
        help="JSON or CSV mapping file name -> caption (default: unconditional, as in the paper)",
    )
    p.add_argument("--out", required=True, help="store folder (resumes if it exists)")
    p.add_argument(
        "--dtype",
        default="fp16",
        choices=["fp16", "bf16", "fp32"],
        help="storage dtype of activations",
    )
    p.add_argument("--clip-seconds", type=float, default=10.0, help="clip length")
    p.add_argument(
        "--min-clip-seconds",
        type=float,
        default=1.0,
        help="keep a file's shorter last clip only if at least this long",
    )
    p.add_argument("--batch-size", type=int, default=8, help="clips per forward pass")
    p.add_argument(
        "--shard-rows",
        type=int,
        default=65_536,
        help="rows per shard (bounds memory: about two shards are held)",
    )
    p.add_argument(
        "--no-background-writes",
        action="store_true",
        help="write shards inline instead of overlapping with capture",
    )
    gen = p.add_argument_group("generations (with --prompts)")
    gen.add_argument("--duration", type=float, default=10.0, help="seconds per take")
    gen.add_argument("--seed", type=int, default=0, help="take n uses seed + n")
    gen.add_argument("--variants", type=int, default=1, help="takes per prompt")
    gen.add_argument("--temperature", type=float, default=1.0)
    gen.add_argument("--top-k", type=int, default=250)
    gen.add_argument("--top-p", type=float, default=0.0)
    gen.add_argument("--cfg-scale", type=float, default=3.0)
    p.set_defaults(func=cmd_harvest, kept=kept_shards)
