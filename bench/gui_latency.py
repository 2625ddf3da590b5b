"""GUI latency on the tiny model (CPU): knob release -> playable steered audio, the longest
UI-thread stall while rendering (a 2 ms QTimer heartbeat records the largest gap), and with
streaming playback the time to first audio against the time to the full take (their ratio).
``--inspector`` instead clicks features in the browser on the shipped demo database and times
click -> inspector filled and click -> every top clip decoded (p50/p95), against the old
synchronous path (DB + decoding every clip before anything shows) measured in the same run.
``--map N`` opens a synthetic database of N features with a cached layout in the feature map
and times hover (mouse move -> tooltip updated) and pan (drag step -> view redrawn) per event.

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/gui_latency.py [--duration 5] [--repeats 5]
    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/gui_latency.py --inspector [--clicks 40]
    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/gui_latency.py --map 32768 [--events 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))


class Heartbeat:
    """Largest interval between timer ticks on the UI thread, as wall time and as the UI
    thread's own CPU time. On a loaded machine a wall gap can be the OS not scheduling the
    process at all; the CPU-time gap is what our code on the UI thread actually blocked."""

    def __init__(self, interval_ms: int = 2) -> None:
        from PySide6.QtCore import QTimer

        self.interval = interval_ms / 1000
        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)
        self.last = time.perf_counter()
        self.last_cpu = time.thread_time()
        self.worst = 0.0
        self.worst_cpu = 0.0
        self.cpu_stalls: list[float] = []  # worst UI-thread CPU gap of each start/stop window

    def _tick(self) -> None:
        now, cpu = time.perf_counter(), time.thread_time()
        self.worst = max(self.worst, now - self.last)
        self.worst_cpu = max(self.worst_cpu, cpu - self.last_cpu)
        self.last, self.last_cpu = now, cpu

    def start(self) -> None:
        self.last, self.last_cpu = time.perf_counter(), time.thread_time()
        self.worst = self.worst_cpu = 0.0
        self.timer.start()

    def stop(self) -> float:
        self.timer.stop()
        self.cpu_stalls.append(self.worst_cpu)
        return self.worst


def random_sae(model, folder: Path) -> Path:
    """A TopK SAE with random unit directions on layer 2: steering costs the same as trained."""
    import torch

    from musae_core.sae import SAEConfig, build_sae, save_sae

    cfg = SAEConfig("topk", d_in=model.d_model, d_sae=48, k=4, model_id="tiny", layer=2)
    sae = build_sae(cfg)
    with torch.no_grad():
        sae.W_dec.copy_(torch.randn(48, cfg.d_in, generator=torch.Generator().manual_seed(0)))
        sae.normalize_decoder()
        sae.W_enc.copy_(sae.W_dec.T)
        sae.max_activation.copy_(torch.linspace(1.0, 8.0, 48))
    return save_sae(sae, folder / "tiny-sae")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per take")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--inspector", action="store_true", help="time inspector clicks instead")
    parser.add_argument("--clicks", type=int, default=40)
    parser.add_argument("--db", default=str(ROOT / "resources/demo/features.db"))
    parser.add_argument(
        "--map",
        type=int,
        default=0,
        metavar="N",
        help="time the feature map on N synthetic features instead",
    )
    parser.add_argument("--events", type=int, default=200, help="hover / pan events (--map)")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)  # shared CI / dev machines: comparable, and leaves the UI a core
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from app.theme import apply_dark_theme
    from app.window import MainWindow
    from musae_core.workstation import Settings

    app = QApplication.instance() or QApplication([])
    apply_dark_theme(app)
    tmp = Path(tempfile.mkdtemp(prefix="musae-bench-"))
    layout = QSettings(str(tmp / "l.ini"), QSettings.IniFormat)
    win = MainWindow(Settings(device="cpu", autosave_seconds=0), layout, tmp / "s.json")
    win.resize(1400, 900)
    win.show()
    bench = win.bench

    def wait(predicate, timeout=120.0) -> None:
        """Run the real event loop (no sleeping on the UI thread) until ``predicate`` holds."""
        from PySide6.QtCore import QEventLoop, QTimer

        end = time.monotonic() + timeout
        loop, poll = QEventLoop(), QTimer()
        poll.setInterval(1)

        def check() -> None:
            if predicate() or time.monotonic() > end:
                loop.quit()

        poll.timeout.connect(check)
        poll.start()
        if not predicate():
            loop.exec()
        poll.stop()
        if not predicate():
            raise TimeoutError("benchmark step timed out")

    if args.map:
        from gui_latency_map import map_latency

        map_latency(args, win, wait, tmp)
        win.close()
        return 0
    if args.inspector:
        win.resize(1600, 900)
        inspector_latency(args, win, wait)
        win.close()
        return 0

    bench.new_project("tiny")
    wait(lambda: bench.session.model is not None)
    bench.open_sae(random_sae(bench.session.model, tmp))
    wait(lambda: bench.steering_unavailable() is None)
    bench.set_master(duration=args.duration, seed=1)
    bench.add_feature(8, "bench")
    strip = win.mixer.strips[8]
    ready = {"t": None}
    bench.currentTakeChanged.connect(lambda _t: ready.__setitem__("t", time.perf_counter()))

    def knob_turn(value: float) -> float:
        """Simulate one drag gesture; time from release until the take is loaded for playback."""
        ready["t"] = None
        strip.knob.gestureStarted.emit()
        strip.knob.setValue(value, emit=True)
        released = ready["released"] = time.perf_counter()
        strip.knob.gestureFinished.emit(value)  # auto-render on release
        wait(lambda: ready["t"] is not None and win.transport.take is bench.current_take)
        return ready["t"] - released

    knob_turn(0.5)  # warm-up: also renders and caches the unsteered take
    heartbeat = Heartbeat()
    latencies, stalls = [], []
    for i in range(args.repeats):
        heartbeat.start()
        latencies.append(knob_turn(1.0 + 0.5 * i))
        wait(lambda: win.arrangement._shown == (bench.current_take.take_id, win.transport.ab))
        stalls.append(heartbeat.stop())
    # a full render (unsteered + steered) after a master change, for reference
    bench.set_master(seed=2)
    heartbeat.start()
    full = knob_turn(3.0)
    wait(lambda: win.arrangement._shown == (bench.current_take.take_id, win.transport.ab))
    stalls.append(heartbeat.stop())
    print(f"tiny model, CPU, {args.duration:g} s takes, {args.repeats} knob turns")
    ms = sorted(round(x * 1000) for x in latencies)
    print(f"knob release -> playable steered audio: median {statistics.median(ms):.0f} ms {ms}")
    print(f"  after a master change (unsteered + steered): {full * 1000:.0f} ms")
    worst, typical = max(stalls) * 1000, statistics.median(stalls) * 1000
    print(
        f"longest UI-thread stall during render + redraw: {worst:.1f} ms wall, "
        f"{max(heartbeat.cpu_stalls) * 1000:.1f} ms of UI-thread CPU"
    )
    print(f"  median per render {typical:.1f} ms; target < 50 ms")
    streaming(args, bench, win, knob_turn, heartbeat, ready, latencies, full)
    win.close()
    return 0


def streaming(args, bench, win, knob_turn, heartbeat, ready, plain, plain_full) -> None:
    """Auto-play with streaming: knob release -> first chunk playable, and -> full take."""
    bench.settings.stream_playback = bench.settings.auto_play = True
    feeds: list = []
    bench.streamStarted.connect(feeds.append)
    first, full, stalls = [], [], []
    own_windows = len(heartbeat.cpu_stalls)  # CPU gaps of this phase only

    def turn(value: float) -> None:
        feeds.clear()
        heartbeat.start()
        full.append(knob_turn(value))
        stalls.append(heartbeat.stop())
        win.output.stop()
        feed = feeds[-1] if feeds else None
        landed = feed.first_audio if feed is not None and feed.first_audio else None
        first.append(landed - ready["released"] if landed else full[-1])

    for i in range(args.repeats):
        turn(0.7 + 0.5 * i)
    bench.set_master(seed=3)  # after a master change both passes run; the steered one streams
    turn(2.5)
    ttfa, take = statistics.median(first[:-1]), statistics.median(plain)
    ms = sorted(round(x * 1000) for x in first[:-1])
    print(f"streaming playback ({args.duration:g} s takes, auto-play on knob release):")
    print(f"  time to first audio: median {ttfa * 1000:.0f} ms {ms}")
    print(
        f"  time to full take (no streaming): median {take * 1000:.0f} ms; with streaming "
        f"{statistics.median(full[:-1]) * 1000:.0f} ms"
    )
    print(f"  ratio first audio / full take: {ttfa / take:.2f}")
    print(
        f"  after a master change: first audio {first[-1] * 1000:.0f} ms vs full take "
        f"{plain_full * 1000:.0f} ms (ratio {first[-1] / plain_full:.2f})"
    )
    print(
        f"  longest UI-thread stall while streaming: {max(stalls) * 1000:.1f} ms wall, "
        f"{max(heartbeat.cpu_stalls[own_windows:]) * 1000:.1f} ms of UI-thread CPU"
    )


def percentile(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(values) * 1000, q))


def inspector_latency(args, win, wait) -> None:
    """Click ``--clicks`` distinct features (no cache hits) the way a user does: the browser's
    current row changes, the inspector fills from a worker, the clips decode after it."""
    import random

    from musae_core.audio.io import load_audio
    from musae_core.features import FeatureDB
    from musae_core.workstation.analysis import spectrogram

    bench, browser, inspector = win.bench, win.browser, win.inspector
    load_before = os.getloadavg()
    bench.open_feature_db(args.db, offline=True)
    wait(lambda: browser.model.rowCount() > 0 and browser.proxy.rowCount() > 0)
    rows = list(range(browser.proxy.rowCount()))
    random.Random(0).shuffle(rows)
    rows = rows[: args.clicks + 1]
    shown, decoded, ui_cpu = [], [], []  # (no heartbeat here: its 2 ms ticks cost UI CPU)
    for i, proxy_row in enumerate(rows):
        feature = browser.row_at(proxy_row).id
        index = browser.proxy.index(proxy_row, 1)
        browser.table.scrollTo(index)  # untimed: a user clicks a row that is on screen
        settle = time.monotonic() + 0.05
        wait(lambda s=settle: time.monotonic() > s)
        start, cpu = time.perf_counter(), time.thread_time()
        browser.table.setCurrentIndex(index)  # the user's click
        wait(lambda f=feature: inspector.record is not None and inspector.record.id == f)
        filled, cpu = time.perf_counter(), time.thread_time() - cpu
        wait(lambda: bench.jobs.current("inspect") is None)
        done = time.perf_counter()
        if i:  # the first click also warms imports and the SQLite page cache
            shown.append(filled - start)
            decoded.append(done - start)
            ui_cpu.append(cpu)
    # the old path, same features, same run: DB + every clip decoded before anything shows
    old = []
    with FeatureDB.open(args.db, readonly=True) as db:
        rate = int(db.meta().get("sample_rate") or 32000)
        for proxy_row in rows[1:]:
            feature = browser.row_at(proxy_row).id
            start = time.perf_counter()
            db.feature(feature), db.labels(feature), db.query()
            for clip in list(db.top_clips(feature))[:10]:
                if clip.snippet_path is not None:
                    spectrogram(load_audio(clip.snippet_path, rate), rate, n_bins=64)
            old.append(time.perf_counter() - start)
    load_after = os.getloadavg()
    n = len(shown)
    load = f"load average {load_before[0]:.1f} -> {load_after[0]:.1f}"
    print(
        f"inspector on {Path(args.db).name}: {n} clicks on distinct features, "
        f"{os.cpu_count()} CPUs, {load}"
    )
    print(
        f"  click -> inspector filled (labels, evidence, histogram, neighbours, clip rows): "
        f"p50 {percentile(shown, 50):.0f} ms, p95 {percentile(shown, 95):.0f} ms, "
        f"max {max(shown) * 1000:.0f} ms"
    )
    print(
        f"  UI-thread CPU per click (the load inflates it less): "
        f"p50 {percentile(ui_cpu, 50):.0f} ms, p95 {percentile(ui_cpu, 95):.0f} ms"
    )
    print(
        f"  click -> every clip decoded with its spectrogram: "
        f"p50 {percentile(decoded, 50):.0f}, p95 {percentile(decoded, 95):.0f} ms"
    )
    print(
        f"  old engine path alone (DB + decode all clips before showing anything): "
        f"p50 {percentile(old, 50):.0f} ms, p95 {percentile(old, 95):.0f} ms"
    )
    print(f"  ratio old p50 / new filled p50: {percentile(old, 50) / percentile(shown, 50):.1f}x")


if __name__ == "__main__":
    sys.exit(main())
