"""`musae demo ...`: build the demo corpus (and, later, train and score the demo model)."""

from __future__ import annotations

import argparse

from musae_core.demo.corpus import CorpusSpec, build_corpus


def cmd_build_corpus(args: argparse.Namespace) -> int:
    from musae_core.cli import _progress_bar
    from musae_core.jobs import CancelToken

    n_clips = args.clips or max(1, round(args.hours * 3600 / args.clip_seconds))
    spec = CorpusSpec(n_clips=n_clips, seed=args.seed, clip_seconds=args.clip_seconds)
    update, bar = _progress_bar("rendering corpus", unit="clip")
    try:
        out = build_corpus(args.out, spec, args.soundfont, args.workers, update, CancelToken())
    finally:
        bar.close()
    print(f"corpus of {n_clips} clips ({n_clips * args.clip_seconds / 3600:.2f} h) in {out}")
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
    build.add_argument("--workers", type=int, default=2)
    build.add_argument("--soundfont", default=None, help="General MIDI .sf2 (default: FluidR3)")
    build.set_defaults(func=cmd_build_corpus)
