"""Background jobs on a QThreadPool: progress (throttled), ETA, cooperative cancel.

One job per kind is current: starting a new one cancels the stale one and its results are
dropped, so a late render can never overwrite a newer one.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from musae_core.errors import Cancelled, MusaeError
from musae_core.jobs import CancelToken

log = logging.getLogger(__name__)
JobFn = Callable[[Callable[[int, int], None], CancelToken], Any]
THROTTLE_S = 0.05


class _Signals(QObject):
    progress = Signal(object, int, int)
    done = Signal(object, object)
    failed = Signal(object, str, str)
    cancelled = Signal(object)


class Job(QRunnable):
    """A callable ``fn(progress, cancel)`` run on a pool thread; never touches widgets."""

    _ids = itertools.count(1)

    def __init__(self, kind: str, title: str, fn: JobFn) -> None:
        super().__init__()
        self.setAutoDelete(False)
        self.id = next(self._ids)
        self.kind, self.title, self.fn = kind, title, fn
        self.token = CancelToken()
        self.signals = _Signals()
        self.done_steps, self.total_steps = 0, 0
        self.started = time.monotonic()
        self.state = "queued"
        self._last_emit = 0.0

    def cancel(self) -> None:
        self.token.cancel()

    def eta_seconds(self) -> float | None:
        if self.done_steps <= 0 or self.total_steps <= 0:
            return None
        elapsed = time.monotonic() - self.started
        return elapsed * (self.total_steps - self.done_steps) / self.done_steps

    def _progress(self, done: int, total: int) -> None:
        self.done_steps, self.total_steps = done, total
        now = time.monotonic()
        if now - self._last_emit >= THROTTLE_S or done >= total:
            self._last_emit = now
            self.signals.progress.emit(self, done, total)

    def run(self) -> None:
        self.state, self.started = "running", time.monotonic()
        try:
            self.token.raise_if_cancelled()
            result = self.fn(self._progress, self.token)
        except Cancelled:
            self.state = "cancelled"
            self.signals.cancelled.emit(self)
        except MusaeError as exc:
            self.state = "failed"
            self.signals.failed.emit(self, exc.problem, exc.fix)
        except Exception as exc:
            log.exception("job %s failed", self.title)
            self.state = "failed"
            self.signals.failed.emit(self, f"{self.title} failed: {exc}", "see the log file.")
        else:
            self.state = "done"
            self.signals.done.emit(self, result)


class JobManager(QObject):
    """Starts jobs, keeps one current job per kind, and relays results on the UI thread."""

    jobStarted = Signal(object)
    jobProgress = Signal(object)
    jobEnded = Signal(object)
    failed = Signal(str, str)

    def __init__(self, parent: QObject | None = None, threads: int = 3) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(threads)
        self._current: dict[str, Job] = {}
        self._callbacks: dict[int, tuple[Callable | None, Callable | None]] = {}
        self.jobs: list[Job] = []

    def start(
        self,
        kind: str,
        title: str,
        fn: JobFn,
        on_done: Callable[[Any], None] | None = None,
        on_failed: Callable[[str, str], None] | None = None,
    ) -> Job:
        stale = self._current.get(kind)
        if stale is not None and stale.state in ("queued", "running"):
            stale.cancel()
        job = Job(kind, title, fn)
        self._current[kind] = job
        self._callbacks[job.id] = (on_done, on_failed)
        job.signals.progress.connect(self._on_progress)
        job.signals.done.connect(self._on_done)
        job.signals.failed.connect(self._on_failed)
        job.signals.cancelled.connect(self._on_cancelled)
        self.jobs.append(job)
        del self.jobs[:-50]
        self.jobStarted.emit(job)
        self.pool.start(job)
        return job

    def current(self, kind: str) -> Job | None:
        job = self._current.get(kind)
        return job if job is not None and job.state in ("queued", "running") else None

    def cancel(self, kind: str) -> bool:
        job = self.current(kind)
        if job is not None:
            job.cancel()
        return job is not None

    def cancel_all(self) -> None:
        for job in list(self._current.values()):
            job.cancel()

    def wait(self, msecs: int = 30000) -> bool:
        return self.pool.waitForDone(msecs)

    def _is_current(self, job: Job) -> bool:
        return self._current.get(job.kind) is job

    @Slot(object, int, int)
    def _on_progress(self, job: Job, done: int, total: int) -> None:
        self.jobProgress.emit(job)

    @Slot(object, object)
    def _on_done(self, job: Job, result: object) -> None:
        on_done, _ = self._callbacks.pop(job.id, (None, None))
        self.jobEnded.emit(job)
        if on_done is not None and self._is_current(job):
            on_done(result)

    @Slot(object, str, str)
    def _on_failed(self, job: Job, problem: str, fix: str) -> None:
        _, on_failed = self._callbacks.pop(job.id, (None, None))
        self.jobEnded.emit(job)
        if on_failed is not None:
            on_failed(problem, fix)
        else:
            self.failed.emit(problem, fix)

    @Slot(object)
    def _on_cancelled(self, job: Job) -> None:
        self._callbacks.pop(job.id, None)
        self.jobEnded.emit(job)
