"""``musae generate --continue TAKE.json [--from SECONDS] --steer ...``: punch-in from the CLI.

With ``--from`` the take is rendered again from its sidecar (bit for bit, checked against the
take's WAV where one sits beside it), then re-rendered from that point with ``--steer``; without
``--from`` it is only rendered again, which reproduces a punch-in take from its JSON alone.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from musae_core.errors import MusaeError


def continue_take(args: argparse.Namespace) -> int:
    from musae_core.audio.io import write_take_files
    from musae_core.cli_support import check_output, progress_bar
    from musae_core.models.loading import load_model
    from musae_core.punch.sidecar import read_sidecar, recipe_from_sidecar
    from musae_core.punch.takes import punch_in, render_recipe
    from musae_core.render import take_metadata
    from musae_core.steer_specs import interventions_from_args

    if not args.continue_from:
        raise MusaeError("--from needs the take to continue.", "add --continue TAKE.json.")
    out = Path(args.out)
    check_output(out, (".wav", ".flac"))
    source = Path(args.continue_from)
    meta = read_sidecar(source)
    if args.model not in ("tiny", meta["model_id"]):
        raise MusaeError(
            f"--model {args.model} differs from the take's model {meta['model_id']}.",
            "leave --model out: --continue uses the take's model.",
        )
    model = load_model(meta["model_id"], device=args.device, dtype=args.dtype)
    recipe = recipe_from_sidecar(meta)
    cancel = args.cancel
    update, bar = progress_bar("rendering the take again")
    try:
        take = render_recipe(model, recipe, update, cancel)
        if args.punch_from is not None:
            interventions = interventions_from_args(args, model)
            bar.close()
            update, bar = progress_bar(f"punching in at {args.punch_from:g} s")
            take, recipe = punch_in(
                model, take, recipe, args.punch_from, interventions, update, cancel
            )
    finally:
        bar.close()
    index = int(meta.get("batch_index", 0))
    metadata = take_metadata(model, take, index)
    metadata["recipe"] = recipe.to_dict(model.frame_rate) if recipe.parent else None
    metadata["continued_from"] = str(source.resolve())
    wav, side = write_take_files(out, take.audio[index], take.sample_rate, metadata)
    print(f"wrote {wav} and {side}")
    return 0
