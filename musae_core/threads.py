"""CPU threading policy: passive OpenMP waiting and a thread count for the free cores.

OpenMP worker threads busy-poll for a sibling that the OS has descheduled; with one of two cores
busy elsewhere (a DAW, a browser, another job) two torch threads made a 5 s demo take 26x slower
(issue 18). So every entry point (``musae`` CLI, ``musae-app``, torchrun workers) calls
``prepare()`` first thing, before torch is imported: it sets ``OMP_WAIT_POLICY=PASSIVE`` and
starts measuring how busy the other processes keep the cores. ``fit_model(model)`` (called by
``load_model``) then sets torch's thread count once for that model and the cores that are free
(never below two: see ``choose_threads``).

Overrides, strongest first: ``MUSAE_THREADS`` (environment), the app setting ``threads``,
``OMP_NUM_THREADS`` (environment). This module must stay cheap to import: no torch at the top.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

ENV_OVERRIDE = "MUSAE_THREADS"
THREAD_ENV = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OMP_WAIT_POLICY",
    "KMP_BLOCKTIME",
    ENV_OVERRIDE,
)
"""Every environment variable that decides a process's CPU threading (a clean child clears them)."""
SMALL_MODEL_PARAMS = 50_000_000
"""Below this many parameters an op is too short to split wider than two threads (the 5 M
parameter demo model renders no faster on 2 threads than on 1 on an idle box)."""

_state: dict[str, Any] = {
    "active": False, "snapshot": None, "interop_set": False, "override": None, "params": None,
}  # fmt: skip


@dataclass(frozen=True)
class CpuSnapshot:
    """System-wide busy and total CPU time, and this process's own CPU time, at one moment."""

    when: float
    busy: float  # seconds, all cores, all processes
    own: float  # seconds, this process (all its threads)


def _read_proc_stat() -> float | None:
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()[1:]
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    values = [int(v) for v in fields]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return (sum(values[:8]) - idle) / ticks


def snapshot() -> CpuSnapshot | None:
    busy = _read_proc_stat()
    if busy is None:
        return None
    t = os.times()
    return CpuSnapshot(time.monotonic(), busy, t.user + t.system)


def usable_cores() -> int:
    """Cores this process may run on (affinity / cgroup cpuset), not the machine's total."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def others_busy_cores(since: CpuSnapshot | None, now: CpuSnapshot | None = None) -> float:
    """How many cores other processes kept busy since ``since`` (our own CPU time removed).

    Falls back to the 1-minute load average (minus this process) when the window is too short
    to measure or /proc is missing.
    """
    now = now or snapshot()
    if since is not None and now is not None and now.when - since.when >= 0.05:
        others = (now.busy - since.busy) - (now.own - since.own)
        return max(0.0, others / (now.when - since.when))
    try:
        return max(0.0, os.getloadavg()[0] - 1.0)
    except (AttributeError, OSError):
        return 0.0


def choose_threads(
    cores: int, busy_elsewhere: float, params: int | None = None, ranks: int = 1
) -> int:
    """Threads for one process: the free cores shared among ``ranks``, at least two.

    With passive waiting a second thread costs little when the cores are busy, and under
    contention it doubles this process's share of the CPU (docs/benchmarks.md: 2-3x faster
    than one thread on the shared 2-core box), so busy cores never push it below two. Small
    models stop at two: their ops are too short to split further.
    """
    per_rank = max(1, cores // max(1, ranks))
    free = max(1, round(cores - busy_elsewhere)) // max(1, ranks)
    n = max(min(2, per_rank), free)
    if params is not None and params < SMALL_MODEL_PARAMS:
        n = min(n, 2)
    return n


def override_threads(setting: int | None = None) -> int | None:
    """An explicit thread count: MUSAE_THREADS, else the app setting, else OMP_NUM_THREADS."""
    for source, value in (
        (ENV_OVERRIDE, os.environ.get(ENV_OVERRIDE)),
        ("setting", setting if setting else None),
        ("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS")),
    ):
        if value in (None, ""):
            continue
        try:
            n = int(value)
        except ValueError:
            log.warning("ignoring %s=%r: not a whole number of threads", source, value)
            continue
        if n > 0:
            return n
    return None


def prepare() -> None:
    """Entry points call this before importing torch: passive waiting, start the load window.

    In a process that already imported torch (tests, notebooks) it changes nothing, so library
    users keep the threads they set themselves.
    """
    if "torch" in sys.modules:
        log.debug("threads.prepare() after torch was imported: policy left off")
        return
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("KMP_BLOCKTIME", "0")  # the same for Intel's OpenMP runtime
    _state["active"] = True
    _state["snapshot"] = snapshot()


def set_setting(threads: int | None) -> int | None:
    """The app's ``Settings.threads`` (0 = automatic), applied at once (for the last model)."""
    _state["override"] = threads or None
    return apply(_state["params"]) if "torch" in sys.modules else None


def apply(params: int | None = None) -> int | None:
    """Set torch's threads for a model of ``params`` parameters; None when the policy is off."""
    if not _state["active"]:
        return None
    import torch

    _state["params"] = params
    n = override_threads(_state["override"])
    if n is None:
        since, now = _state["snapshot"], snapshot()
        busy = others_busy_cores(since, now)
        ranks = int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1)
        n = choose_threads(usable_cores(), busy, params, ranks)
        _state["snapshot"] = now
        log.info(
            "threads: %d (cores %d, busy elsewhere %.2f, params %s)",
            n,
            usable_cores(),
            busy,
            params,
        )
    torch.set_num_threads(n)
    if not _state["interop_set"]:
        _state["interop_set"] = True
        with contextlib.suppress(RuntimeError):  # interop work already ran: keep torch's pool
            torch.set_num_interop_threads(1)  # eager inference never forks interop work
    return n


def fit_model(model: object) -> int | None:
    """Threads for a loaded ``MusicModel`` (its parameter count decides small vs large)."""
    if not _state["active"]:
        return None
    return apply(parameter_count(model))


def parameter_count(model: object) -> int | None:
    """Parameters of the torch module behind a ``MusicModel`` (transformers or audiocraft)."""
    for module in (model, getattr(model, "hf", None), getattr(model, "lm", None)):
        if module is not None and hasattr(module, "parameters"):
            return int(sum(p.numel() for p in module.parameters()))
    return None
