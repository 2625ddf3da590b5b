"""`musae demo ...`: build the demo corpus and train the demo model (scoring comes later)."""

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


def cmd_train(args: argparse.Namespace) -> int:
    import signal

    from musae_core.cli import _progress_bar
    from musae_core.demo.train import DemoTrainSpec, train_demo
    from musae_core.errors import Cancelled
    from musae_core.jobs import CancelToken

    spec = DemoTrainSpec()
    spec.codec_train.minutes = args.codec_minutes
    spec.codec_train.seed = args.seed
    spec.lm_train.minutes = args.lm_minutes
    spec.lm_train.seed = args.seed
    spec.codec_train.max_steps = args.codec_steps
    spec.lm_train.max_steps = args.lm_steps
    cancel = CancelToken()
    bars = []

    def progress(name: str):
        for bar in bars:
            bar.close()
        update, bar = _progress_bar(name, unit="s")
        bars.append(bar)
        return update

    def on_interrupt(signum, frame) -> None:  # first Ctrl-C: checkpoint and stop
        if cancel.cancelled:
            raise KeyboardInterrupt
        cancel.cancel()

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        folder = train_demo(args.corpus, args.out, spec, progress, cancel, log=_log_line)
    except Cancelled:
        print(f"stopped; checkpoints are in {args.out}: rerun the same command to resume.")
        raise
    finally:
        signal.signal(signal.SIGINT, previous)
        for bar in bars:
            bar.close()
    print(f"demo model in {folder}")
    return 0


def _log_line(text: str) -> None:
    from tqdm import tqdm

    tqdm.write(text)


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
    train = demo_sub.add_parser(
        "train", help="train the demo codec and music model from a corpus (resumable)"
    )
    train.add_argument("--corpus", required=True, help="folder from `musae demo build-corpus`")
    train.add_argument("--out", required=True, help="work folder; the model lands in OUT/model")
    train.add_argument("--codec-minutes", type=float, default=40.0, help="wall-clock budget")
    train.add_argument("--lm-minutes", type=float, default=40.0, help="wall-clock budget")
    train.add_argument(
        "--codec-steps", type=int, default=None, help="also stop the codec after this many steps"
    )
    train.add_argument(
        "--lm-steps", type=int, default=None, help="also stop the LM after this many steps"
    )
    train.add_argument("--seed", type=int, default=0)
    train.set_defaults(func=cmd_train)
