"""Render speed under background load: the demo's 5 s take with 0, 1, 2 busy processes.

Each configuration runs in a fresh subprocess (OpenMP reads its settings once, at torch import):

- ``auto``: musae's own policy (``musae_core.threads``: passive waiting, threads for the model
  and the free cores), what the CLI and the app do with no setting;
- ``fixed1`` / ``fixed2``: the policy overridden with ``MUSAE_THREADS=1`` / ``2``;
- ``legacy``: no policy at all (torch's defaults: active spin-waiting, one thread per core),
  what musae did before; capped by ``--legacy-timeout`` because it can take minutes under load.

Each child times, after its imports, one plain 5 s take (``musae generate``'s path) and one A+B
render of the app (``Session.render``: unsteered + steered with one demo feature). Configs are
interleaved, ``--repeats`` times per load; printed: median seconds, spread, and ratios to the
best fixed thread count, all from this one run.

    python bench/load.py                      # loads 0 1 2, 2 repeats
    python bench/load.py --loads 1 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from musae_core import threads  # noqa: E402  (cheap: no torch; the children import torch)

DEMO = ROOT / "resources" / "demo"
CONFIGS = ("auto", "fixed1", "fixed2", "legacy")
CLEARED = threads.THREAD_ENV  # the variables a clean child process must not inherit


def child(config: str, duration: float, feature: int, strength: float) -> None:
    """One measurement in this fresh process; prints one JSON line."""
    if config != "legacy":
        threads.prepare()
    import torch

    from musae_core.workstation import MasterSettings, MixerState, Session
    from musae_core.workstation.project import Project

    session = Session(project=Project.load(DEMO / "demo.musae.json"))
    session.open_resources()
    master = MasterSettings.from_dict({**session.project.master.to_dict(), "duration": duration})
    t0 = time.perf_counter()
    session.render(master, MixerState())  # one plain take, as `musae generate` makes
    plain = time.perf_counter() - t0
    session._unsteered = None  # the A+B render must generate both passes
    mixer = MixerState().add(feature).update(feature, strength=strength)
    t0 = time.perf_counter()
    session.render(master, mixer)
    ab = time.perf_counter() - t0
    print(json.dumps({"plain": plain, "ab": ab, "threads": torch.get_num_threads()}))


def busy_loop() -> None:
    while True:
        pass


def run_child(config: str, args, timeout: float) -> dict | None:
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    env.update(HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    if config.startswith("fixed"):
        env["MUSAE_THREADS"] = config[len("fixed") :]
    cmd = [
        sys.executable,
        __file__,
        "--child",
        config,
        "--duration",
        str(args.duration),
        "--feature",
        str(args.feature),
        "--strength",
        str(args.strength),
    ]
    try:
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    if out.returncode != 0:
        raise SystemExit(f"{config} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def fmt(values: list[float | None], key: str) -> str:
    got = [v for v in values if v is not None]
    if not got:
        return "timeout"
    med = statistics.median(got)
    spread = f" ({min(got):.1f}-{max(got):.1f})" if len(got) > 1 else ""
    return f"{med:.1f}{spread}" + (" +timeouts" if len(got) < len(values) else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", choices=CONFIGS)
    parser.add_argument("--loads", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=CONFIGS)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--feature", type=int, default=0, help="demo feature steered in A+B")
    parser.add_argument("--strength", type=float, default=2.0)
    parser.add_argument("--legacy-timeout", type=float, default=90.0)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.duration, args.feature, args.strength)
        return
    import multiprocessing as mp
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # still kill the busy processes

    print(f"cores usable: {len(os.sched_getaffinity(0))}, loadavg before: {os.getloadavg()}")
    results: dict[tuple[int, str], list[dict | None]] = {}
    for load in args.loads:
        hogs = [mp.Process(target=busy_loop, daemon=True) for _ in range(load)]
        for h in hogs:
            h.start()
        try:
            for _ in range(args.repeats):
                for config in args.configs:
                    timeout = args.legacy_timeout if config == "legacy" else 600
                    r = run_child(config, args, timeout)
                    results.setdefault((load, config), []).append(r)
                    print(f"  load {load} {config}: {r}", flush=True)
        finally:
            for h in hogs:
                h.kill()
    print(
        f"\n{args.duration:g} s demo take, seconds after imports: median (min-max) "
        f"of {args.repeats}; ratio = auto / best fixed thread count"
    )
    print("| busy procs | config | threads | plain take | A+B render |")
    print("|---|---|---|---|---|")
    for load in args.loads:
        for config in args.configs:
            rs = results[(load, config)]
            th = {r["threads"] for r in rs if r}
            print(
                f"| {load} | {config} | {','.join(map(str, sorted(th))) or '?'} | "
                f"{fmt([r and r['plain'] for r in rs], 'plain')} | "
                f"{fmt([r and r['ab'] for r in rs], 'ab')} |"
            )
    for load in args.loads:

        def med(config: str, key: str, load: int = load) -> float:
            got = [r[key] for r in results.get((load, config), []) if r]
            return statistics.median(got) if got else float("inf")

        for key in ("plain", "ab"):
            best = min(med(c, key) for c in ("fixed1", "fixed2") if c in args.configs)
            line = f"load {load} {key}: auto/best fixed {med('auto', key) / best:.2f}x"
            if "legacy" in args.configs:
                legacy = med("legacy", key)
                if legacy == float("inf"):  # every legacy run hit its timeout
                    line += f", legacy: every run over {args.legacy_timeout:g} s (whole child)"
                else:
                    line += f", legacy/auto {legacy / med('auto', key):.1f}x"
            print(line)


if __name__ == "__main__":
    main()
