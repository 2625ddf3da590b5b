"""Cooperative cancellation and progress reporting shared by every long job.

Jobs take a ``CancelToken`` and a ``ProgressFn`` instead of knowing about tqdm or Qt, so the
CLI can show a bar and the GUI can drive a progress widget from the same engine call.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from musae_core.errors import Cancelled

ProgressFn = Callable[[int, int], None]
"""Called with (steps done, steps total)."""

ProgressFactory = Callable[[str], ProgressFn | None]
"""A multi-stage job's progress: a stage's (or sweep cell's) name -> that stage's ``ProgressFn``
(None: the stage reports nothing)."""


class CancelToken:
    """A thread-safe flag a job polls between steps; ``cancel()`` may come from any thread."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled("the job was cancelled")


def no_progress(done: int, total: int) -> None:
    """Default progress sink that ignores reports."""


def check(cancel: CancelToken | None) -> None:
    """Raise ``Cancelled`` if a token was given and set."""
    if cancel is not None:
        cancel.raise_if_cancelled()
