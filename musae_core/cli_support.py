"""What every ``musae`` subcommand shares: progress bars, Ctrl+C, the error exit.

One place so that every command behaves the same way: the first Ctrl+C sets the command's
``CancelToken`` (``args.cancel``), the job stops at its next safe point, the command says what it
kept (the ``kept`` its parser declares) and exits 130; a second Ctrl+C aborts hard. A
``MusaeError`` becomes one line on stderr and exit code 2, never a traceback.

This module sits below every layer it serves (it imports only ``errors`` and ``jobs``), so a
subcommand of any layer can use it without reaching up.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

from musae_core.errors import Cancelled, MusaeError
from musae_core.jobs import CancelToken, ProgressFn

EXIT_STOPPED = 130
"""Exit code of a command stopped by Ctrl+C (128 + SIGINT, as shells report it)."""

Kept = str | Callable[[argparse.Namespace], str]
"""What a stopped command kept: a sentence, or a function of the arguments that measures it."""


class PlainProgress:
    """Progress as plain lines every ``interval`` seconds, for logs (stderr is not a terminal).

    Quacks like the bits of a tqdm bar the commands use (``set_postfix``, ``close``).
    """

    def __init__(
        self, desc: str, unit: str, interval: float | None = None, stream: TextIO | None = None
    ) -> None:
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


def progress_bar(desc: str, unit: str = "step") -> tuple[ProgressFn, Any]:
    """A ProgressFn plus its bar (so the caller can close it): tqdm on a terminal, else
    ``PlainProgress`` lines, so logs of long jobs say how far they are."""
    if not sys.stderr.isatty():
        plain = PlainProgress(desc, unit)
        return plain.update, plain
    from tqdm import tqdm

    bar = tqdm(desc=desc, unit=unit, leave=False)

    def update(done: int, total: int) -> None:
        if bar.total != total:
            bar.reset(total=total)
        bar.n = done
        bar.refresh()

    return update, bar


def stage_bars() -> tuple[Callable[[str], ProgressFn], Callable[[], None]]:
    """A progress factory for multi-stage jobs: one bar per stage, closed when the next stage
    starts (and by the returned ``close``)."""
    bars: list[Any] = []

    def progress(name: str) -> ProgressFn:
        for bar in bars:
            bar.close()
        update, bar = progress_bar(name, unit="step")
        bars.append(bar)
        return update

    def close() -> None:
        for bar in bars:
            bar.close()

    return progress, close


def log_line(text: str) -> None:
    """A line of a job's log that does not tear a progress bar."""
    from tqdm import tqdm

    tqdm.write(text)


def check_output(path: Path, suffixes: tuple[str, ...]) -> None:
    """Refuse an output path with the wrong suffix or an unwritable folder before any work."""
    if path.suffix.lower() not in suffixes:
        raise MusaeError(f"Output {path} must end in {' or '.join(suffixes)}.", "rename it.")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise MusaeError(
            f"Cannot write {path}: folder {parent} is missing or not writable.",
            "create the folder or pick a writable output path.",
        )


@contextlib.contextmanager
def ctrl_c_cancels(cancel: CancelToken) -> Iterator[None]:
    """First Ctrl+C sets the token (the job stops cleanly); a second one interrupts hard."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum: int, frame: object) -> None:
        if cancel.cancelled:
            raise KeyboardInterrupt
        print(
            "\nmusae: stopping at the next safe point (Ctrl+C again to abort)...",
            file=sys.stderr,
            flush=True,
        )
        cancel.cancel()

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def error_exit(exc: MusaeError) -> int:
    """A user-facing problem as one line on stderr; its exit code (2)."""
    print(f"musae: error: {exc.one_line()}", file=sys.stderr)
    return exc.exit_code


def _is_main_rank() -> bool:
    """Under torchrun every rank runs the command; only rank 0 speaks for it."""
    return os.environ.get("RANK", "0") == "0"


def stopped_exit(args: argparse.Namespace) -> int:
    """Say what the stopped command kept (its parser's ``kept``) and return 130."""
    kept = getattr(args, "kept", None)
    if callable(kept):
        try:
            kept = kept(args)
        except (MusaeError, OSError) as exc:  # measuring what was kept must not hide the stop
            kept = f"could not tell what was kept ({exc})"
    if _is_main_rank():
        print(f"musae: stopped: {kept or 'nothing was written'}.", file=sys.stderr, flush=True)
    return EXIT_STOPPED


def run_command(args: argparse.Namespace) -> int:
    """Run ``args.func`` with the one Ctrl+C behaviour and the one error exit.

    Commands whose parser declares ``kept`` poll ``args.cancel``; there the first Ctrl+C only
    sets it. Other commands (short, or with no safe point) stop at once on Ctrl+C.
    """
    args.cancel = CancelToken()
    cancellable = getattr(args, "kept", None) is not None
    try:
        with ctrl_c_cancels(args.cancel) if cancellable else contextlib.nullcontext():
            return int(args.func(args))
    except MusaeError as exc:
        return error_exit(exc)
    except (KeyboardInterrupt, Cancelled):
        args.cancel.cancel()
        return stopped_exit(args)
