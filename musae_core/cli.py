"""The ``musae`` command: one subcommand per engine job, tqdm progress, Ctrl+C stops cleanly.

Every user-facing problem is a ``MusaeError``: printed as one line, exit code 2, no partial files.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from musae_core import threads
from musae_core.errors import Cancelled, MusaeError

log = logging.getLogger("musae")

COMMAND_MODULES = (
    "musae_core.models.convert_cli",
    "musae_core.harvest.cli",
    "musae_core.sae.cli",
    "musae_core.features.cli",
    "musae_core.features.pages.cli",
    "musae_core.features.stamp_cli",
    "musae_core.features.map_cli",
    "musae_core.labeling.cli",
    "musae_core.demo.cli",
    "musae_core.sae.sweep_cli",
)
"""Modules that add subcommands: each has ``register(subparsers)`` and lives with its concept."""


class PlainProgress:
    """Progress as plain lines every ``interval`` seconds, for logs (stderr is not a terminal).

    Quacks like the bits of a tqdm bar the commands use (``set_postfix``, ``close``).
    """

    def __init__(self, desc: str, unit: str, interval: float | None = None, stream=None) -> None:
        env = os.environ.get("MUSAE_PROGRESS_SECONDS", "")
        self.interval = interval if interval is not None else float(env or 30.0)
        self.desc, self.unit, self.stream = desc, unit, stream or sys.stderr
        self.started = time.monotonic()
        self.last_line: float | None = None
        self.postfix = ""
        self.done, self.total = 0, 0

    def update(self, done: int, total: int) -> None:
        self.done, self.total = done, total
        now = time.monotonic()
        if self.last_line is None or now - self.last_line >= self.interval or done >= total:
            self.last_line = now
            self.write()

    def write(self) -> None:
        elapsed = time.monotonic() - self.started
        share = self.done / self.total if self.total else 0.0
        left = f", ~{_clock(elapsed * (1 - share) / share)} left" if 0 < share < 1 else ""
        line = (
            f"musae: {self.desc} {self.done}/{self.total} {self.unit}s ({share:.0%}), "
            f"{_clock(elapsed)} elapsed{left}{self.postfix}"
        )
        print(line, file=self.stream, flush=True)

    def set_postfix(self, refresh: bool = False, **values: object) -> None:
        self.postfix = " [" + " ".join(f"{k}={v}" for k, v in values.items()) + "]"

    def close(self) -> None:
        if self.last_line is not None and self.done < self.total:
            self.write()  # where it stopped


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"


def _progress_bar(desc: str, unit: str = "step"):
    """A ProgressFn plus its bar (so the caller can close it): tqdm on a terminal, else
    ``PlainProgress`` lines, so logs of long jobs say how far they are."""
    from tqdm import tqdm

    if not sys.stderr.isatty():
        plain = PlainProgress(desc, unit)
        return plain.update, plain
    bar = tqdm(desc=desc, unit=unit, leave=False)

    def update(done: int, total: int) -> None:
        if bar.total != total:
            bar.reset(total=total)
        bar.n = done
        bar.refresh()

    return update, bar


def _check_output(path: Path, suffixes: tuple[str, ...]) -> None:
    if path.suffix.lower() not in suffixes:
        raise MusaeError(f"Output {path} must end in {' or '.join(suffixes)}.", "rename it.")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise MusaeError(
            f"Cannot write {path}: folder {parent} is missing or not writable.",
            "create the folder or pick a writable output path.",
        )


def _parse_vector_steer(spec: str, mode: str, branch: str):
    """'VECTOR.npy:LAYER:STRENGTH' -> an intervention (layer checked later against the model)."""
    from musae_core.steering import AddDirection, ClampDirection, RelativeAdd

    parts = spec.rsplit(":", 2)
    if len(parts) != 3:
        raise MusaeError(f"Bad --steer {spec!r}.", "use VECTOR.npy:LAYER:STRENGTH.")
    path, layer_text, strength_text = parts
    try:
        layer, strength = int(layer_text), float(strength_text)
    except ValueError as exc:
        raise MusaeError(
            f"Bad --steer {spec!r}: layer or strength is not a number.", "use e.g. v.npy:2:4.0."
        ) from exc
    if not np.isfinite(strength):
        raise MusaeError(f"Bad --steer {spec!r}: strength must be finite.", "use a finite number.")
    try:
        vector = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise MusaeError(
            f"Cannot read steering vector {path}: {exc}.", "save it with numpy.save()."
        ) from exc
    source = {"vector_file": str(Path(path).resolve())}
    common = {"layer": layer, "direction": vector, "branch": branch, "source": source}
    if mode == "add":
        return AddDirection(alpha=strength, **common)
    if mode == "relative":
        return RelativeAdd(alpha=strength, **common)
    return ClampDirection(value=strength, **common)


def _interventions(args: argparse.Namespace, model) -> list:
    """--steer specs: SAE features (FEATURE_ID=ALPHA) with --sae, else vector files."""
    if not args.sae:
        return [_parse_vector_steer(s, args.steer_mode, args.cfg_branch) for s in args.steer]
    from musae_core.sae import load_sae, parse_feature_steer

    if args.steer_mode == "relative":
        raise MusaeError("--steer-mode relative applies to vector files.", "use add or clamp.")
    from musae_core.sae.evaluate import check_compatible

    sae = load_sae(args.sae)
    check_compatible(sae, model.model_id, list(range(model.num_layers)), model.d_model,
                     f"model {model.model_id!r}")  # fmt: skip
    sae_path = str(Path(args.sae).resolve())
    db = _checked_feature_db(args.features, sae, args.sae) if args.features else None
    try:
        return [
            parse_feature_steer(spec, sae, args.steer_mode, args.cfg_branch, sae_path, db)
            for spec in args.steer
        ]
    finally:
        if db is not None:
            db.close()


def _checked_feature_db(path: str, sae, sae_arg: str):
    """The --features database, refused when it was analysed from another SAE (beta is still
    the one ``feature_beta`` picks: the database's figure only where the SAE records none)."""
    from musae_core.features.db import FeatureDB
    from musae_core.features.sae_match import check_db_matches_sae

    db = FeatureDB.open(path, readonly=True)
    try:
        warning = check_db_matches_sae(db, sae, f"SAE {sae_arg}")
    except MusaeError:
        db.close()
        raise
    if warning:
        print(f"musae: warning: {warning}", file=sys.stderr)
    return db


def cmd_generate(args: argparse.Namespace) -> int:
    if args.continue_from or args.punch_from is not None:  # punch-in (musae_core.punch)
        from musae_core.punch.cli import continue_take

        return continue_take(args)
    from musae_core.audio.io import write_take_files
    from musae_core.jobs import CancelToken
    from musae_core.models.base import GenerationRequest
    from musae_core.models.loading import load_model
    from musae_core.models.sampling import SamplingSettings
    from musae_core.render import render, take_metadata

    out = Path(args.out)
    _check_output(out, (".wav", ".flac"))
    request = GenerationRequest(
        prompts=tuple(args.prompt),
        duration=args.duration,
        seed=args.seed,
        variants=args.variants,
        sampling=SamplingSettings.from_dict(vars(args)),
    )
    model = load_model(args.model, device=args.device, dtype=args.dtype)
    model.n_frames_for(request.duration)  # validates the duration before any work
    interventions = _interventions(args, model)
    cancel = CancelToken()
    update, bar = _progress_bar("generating")
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
    parser = argparse.ArgumentParser(prog="musae", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True)

    def model_args(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--model", default="tiny", help="'tiny', a folder, or e.g. facebook/musicgen-small"
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
    gen.add_argument("--features", help="feature database of that SAE (checked against it; "
                     "its max activation is beta only where the SAE records none)")  # fmt: skip
    gen.add_argument("--steer", action="append", default=[],
                     metavar="VECTOR.npy:LAYER:STRENGTH | FEATURE_ID=ALPHA",
                     help="repeatable; with --sae: alpha * max act * decoder row")  # fmt: skip
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
    gen.set_defaults(func=cmd_generate)

    dl = sub.add_parser("download", help="download a model's weights into the Hugging Face cache")
    dl.add_argument("model_id")
    dl.add_argument("--cache-dir", default=None)
    dl.add_argument("--kind", choices=["auto", "model", "clap"], default="auto",
                    help="auto: ids with 'clap' are CLAP checkpoints")  # fmt: skip
    dl.set_defaults(func=cmd_download)

    info = sub.add_parser("info", help="print a model's layers, width, rates and limits")
    model_args(info)
    info.set_defaults(func=cmd_info)
    for module_name in COMMAND_MODULES:
        package = module_name.rsplit(".", 1)[0]
        if importlib.util.find_spec(package) and importlib.util.find_spec(module_name):
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
    try:
        return args.func(args)
    except MusaeError as exc:
        print(f"musae: error: {exc.one_line()}", file=sys.stderr)
        return exc.exit_code
    except (KeyboardInterrupt, Cancelled):
        print("musae: cancelled; no output was written.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
