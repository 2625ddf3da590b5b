"""``bench/gui_latency.py --map N``: feature-map hover and pan latency on N synthetic features.

The database and layout are synthetic (random stats, 40 labels, Gaussian clusters as a UMAP
layout looks) so that 32,768 features need no trained SAE; the map code path is the app's.
Hover: one real mouse-move event on the map's viewport -> KD-tree lookup -> tooltip updated,
with events 15 ms apart (pyqtgraph drops moves closer than 10 ms). Pan: one real drag step ->
view range changed -> the viewport repainted synchronously (all N points drawn).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np


def synthetic_db(path: Path, n: int, seed: int = 0) -> None:
    from musae_core.features import FeatureDB, FeatureStats
    from musae_core.features.layout import FeatureLayout, save_layout

    rng = np.random.default_rng(seed)
    freq = 10 ** rng.uniform(-5, -1, n)
    with FeatureDB.create(path, {"model_id": "bench", "d_sae": n}) as db:
        db.write_features(
            FeatureStats(
                id=i,
                frequency=float(freq[i]),
                clip_rate=0.1,
                max_activation=1.0,
                mean_activation=0.5,
            )
            for i in range(n)
        )
        words = [f"concept {k}" for k in range(40)]
        labelled = rng.choice(n, size=min(n, 4096), replace=False)
        with db._tx() as conn:  # bulk insert: add_label's one transaction per label is slow
            conn.executemany(
                "INSERT INTO labels(feature_id, source, text, score, created) "
                "VALUES (?, 'bench', ?, 0.5, '')",
                [(int(i), words[int(i) % 40]) for i in labelled],
            )
            conn.executemany(
                "UPDATE features SET best_label = ?, label_source = 'bench', label_score = 0.5 "
                "WHERE id = ?",
                [(words[int(i) % 40], int(i)) for i in labelled],
            )
        centres = rng.normal(size=(60, 2)) * 3
        xy = centres[rng.integers(0, 60, n)] + rng.normal(size=(n, 2)) * 0.6
        xy = (xy / np.abs(xy).max()).astype(np.float32)
        save_layout(db, FeatureLayout(xy, "bench-synthetic", "synthetic"))


def mouse(widget, kind, pos, buttons) -> None:
    from PySide6.QtCore import QEvent, QPointF, Qt
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    button = Qt.NoButton if kind == QEvent.MouseMove else Qt.LeftButton
    event = QMouseEvent(
        kind, QPointF(pos), QPointF(widget.mapToGlobal(pos)), button, buttons, Qt.NoModifier
    )
    QApplication.sendEvent(widget, event)


def map_latency(args, win, wait, tmp: Path) -> None:
    from PySide6.QtCore import QEvent, QPoint, Qt
    from PySide6.QtWidgets import QApplication

    n = args.map
    start = time.perf_counter()
    synthetic_db(tmp / "map.db", n)
    build = time.perf_counter() - start
    load_before = os.getloadavg()
    win.resize(1600, 1000)
    win.docks["map"].raise_()
    panel, app = win.feature_map, QApplication.instance()
    start = time.perf_counter()
    win.bench.open_feature_db(tmp / "map.db", offline=True)
    wait(lambda: panel.layout_ is not None and len(panel.rows) == n and panel.visible is not None)
    opened = time.perf_counter() - start
    viewport = panel.plot.viewport()
    size = viewport.size()
    rng = np.random.default_rng(1)

    def pause(seconds: float) -> None:
        end = time.monotonic() + seconds
        wait(lambda: time.monotonic() > end)

    hover, hover_cpu, changed = [], [], 0
    for _ in range(args.events + 5):
        pos = QPoint(
            int(rng.uniform(0.1, 0.9) * size.width()), int(rng.uniform(0.1, 0.9) * size.height())
        )
        pause(0.015)
        before = panel.hovered
        t0, c0 = time.perf_counter(), time.thread_time()
        mouse(viewport, QEvent.MouseMove, pos, Qt.NoButton)
        app.processEvents()
        hover.append(time.perf_counter() - t0)
        hover_cpu.append(time.thread_time() - c0)
        changed += panel.hovered != before
    pan, pan_cpu = [], []
    centre = QPoint(size.width() // 2, size.height() // 2)
    mouse(viewport, QEvent.MouseButtonPress, centre, Qt.LeftButton)
    for i in range(args.events + 5):
        pause(0.015)
        step = QPoint(int(40 * np.cos(i / 10)), int(40 * np.sin(i / 10)))
        t0, c0 = time.perf_counter(), time.thread_time()
        mouse(viewport, QEvent.MouseMove, centre + step, Qt.LeftButton)
        viewport.repaint()  # draw now: the time until the moved map is on screen
        app.processEvents()
        pan.append(time.perf_counter() - t0)
        pan_cpu.append(time.thread_time() - c0)
    mouse(viewport, QEvent.MouseButtonRelease, centre, Qt.LeftButton)
    load_after = os.getloadavg()
    # first 5 of each: warm-up; wall time includes waiting for a CPU on a loaded machine
    hover, pan = np.array(hover[5:]) * 1000, np.array(pan[5:]) * 1000
    hover_cpu, pan_cpu = np.array(hover_cpu[5:]) * 1000, np.array(pan_cpu[5:]) * 1000
    print(
        f"feature map, {n} synthetic features (60 clusters, {min(n, 4096)} labelled), map "
        f"{size.width()}x{size.height()} px, offscreen Qt, {os.cpu_count()} CPUs, "
        f"1 torch thread, load average {load_before[0]:.1f} -> {load_after[0]:.1f}"
    )
    print(f"  synthetic DB + layout written in {build:.1f} s; open -> map drawn {opened:.1f} s")
    print(
        f"  hover (mouse move -> nearest feature + tooltip): {len(hover)} events "
        f"({changed} changed the tooltip), p50 {np.percentile(hover, 50):.1f} ms, "
        f"p95 {np.percentile(hover, 95):.1f} ms, max {hover.max():.1f} ms; UI-thread CPU "
        f"p50 {np.percentile(hover_cpu, 50):.1f} ms, p95 {np.percentile(hover_cpu, 95):.1f} ms"
    )
    print(
        f"  pan (drag step -> view moved and all points repainted): {len(pan)} events, "
        f"p50 {np.percentile(pan, 50):.1f} ms, p95 {np.percentile(pan, 95):.1f} ms, "
        f"max {pan.max():.1f} ms; UI-thread CPU p50 {np.percentile(pan_cpu, 50):.1f} ms, "
        f"p95 {np.percentile(pan_cpu, 95):.1f} ms; target < 50 ms per event"
    )
