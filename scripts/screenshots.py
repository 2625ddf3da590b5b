"""Drive the desktop app through the main flow and save screenshots to docs/screenshots/.

Runs offscreen (QT_QPA_PLATFORM=offscreen) or under Xvfb. Uses the embedded demo project when
``resources/demo`` has one; otherwise builds a small random SAE for the tiny model and a feature
database with the real writer API in a temp folder (clearly a stand-in until the demo exists).

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshots.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "docs" / "screenshots"


def build_fixtures(folder: Path) -> tuple[Path, Path]:
    """A random 64-feature SAE on the tiny model's layer 2 and a feature DB describing it."""
    import numpy as np
    import torch

    from musae_core.audio.io import write_wav
    from musae_core.features import FeatureDB, FeatureStats, TopClip
    from musae_core.sae import SAEConfig, build_sae, save_sae

    n, rate = 64, 32000
    sae = build_sae(SAEConfig("topk", d_in=64, d_sae=n, k=8, model_id="tiny", layer=2))
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        sae.W_dec.copy_(torch.randn(n, 64, generator=gen))
        sae.normalize_decoder()
        sae.W_enc.copy_(sae.W_dec.T)
        sae.max_activation.copy_(torch.linspace(1.0, 6.0, n))
    sae_dir = save_sae(sae, folder / "sae")
    meta = {
        "model_id": "tiny",
        "layer": 2,
        "d_sae": n,
        "sae_path": str(sae_dir),
        "sample_rate": rate,
    }
    db = FeatureDB.create(folder / "features.db", meta)
    rng = np.random.default_rng(0)
    db.write_features(
        FeatureStats(
            id=i,
            frequency=float(rng.uniform(0, 0.2)),
            clip_rate=float(rng.uniform(0, 0.4)),
            max_activation=float(1 + i / 10),
            mean_activation=0.5,
            histogram=(list(np.linspace(0, 3, 21)), [int(c) for c in rng.poisson(20, 20)]),
            dead=i % 13 == 0,
            rare=i % 9 == 1,
            generic=i % 17 == 2,
        )
        for i in range(n)
    )
    words = [
        "warm piano",
        "four-on-the-floor drums",
        "sub bass",
        "string pad",
        "bright synth lead",
        "vinyl crackle",
        "reverb tail",
        "hi-hat shuffle",
    ]
    clips = []
    t = np.arange(int(rate * 2.0)) / rate
    for i in range(4):
        tone = np.sin(2 * np.pi * (110 * (i + 2)) * t) * np.exp(-((t % 0.5) * 6))
        clips.append(write_wav(folder / f"clip{i}.wav", (0.3 * tone).astype(np.float32), rate))
    for i in range(1, n):
        db.add_label(
            i,
            "descriptor",
            words[i % len(words)],
            float(rng.uniform(0.4, 0.95)),
            {"descriptor": "spectral centroid"},
            description="texture from descriptors",
            clap_score=float(rng.uniform(0.05, 0.35)),
        )
        if i % 3 == 0:
            db.add_label(
                i,
                "llm",
                f"{words[(i + 3) % len(words)]}, close-miked",
                0.8,
                {"clips": 10},
                description="an LLM's reading of the top clips",
            )
        db.write_top_clips(
            i,
            "mean",
            [
                TopClip(
                    rank=r,
                    source_path=str(clips[r]),
                    clip_start=0.0,
                    clip_seconds=2.0,
                    mean_activation=1.0 / (r + 1),
                    peak_activation=2.0 / (r + 1),
                    timeline=list(np.abs(np.sin(np.linspace(0, 6, 100) + r + i))),
                    frame_rate=50.0,
                    best_window=(0.5, 1.0),
                    snippet_path=clips[r],
                )
                for r in range(4)
            ],
        )
        db.write_neighbours(i, [((i + k) % n, 0.9 - 0.1 * k) for k in (1, 2, 3)])
    db.close()
    return sae_dir, folder / "features.db"


def main() -> int:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from app.main import demo_project
    from app.theme import apply_dark_theme
    from app.window import MainWindow
    from musae_core.workstation import Settings

    app = QApplication.instance() or QApplication([])
    apply_dark_theme(app)
    tmp = Path(tempfile.mkdtemp(prefix="musae-shots-"))

    def make_window(name: str) -> MainWindow:
        layout = QSettings(str(tmp / f"{name}.ini"), QSettings.IniFormat)
        window = MainWindow(Settings(autosave_seconds=0), layout, tmp / f"{name}.json")
        window.resize(1600, 1000)
        window.show()
        return window

    win = make_window("main")
    bench = win.bench

    def settle(predicate=lambda: True, timeout=60.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            app.processEvents()
            if predicate() and not any(j.state in ("queued", "running") for j in bench.jobs.jobs):
                break
            time.sleep(0.02)
        for _ in range(20):
            app.processEvents()

    def shot(name: str) -> None:
        settle()
        path = OUT / f"{name}.png"
        win.grab().save(str(path))
        print("wrote", path)

    OUT.mkdir(parents=True, exist_ok=True)
    demo = demo_project()
    if demo:
        bench.open_project(demo)
    else:
        sae_dir, db_path = build_fixtures(tmp)
        bench.new_project("tiny")
        settle(lambda: bench.session.model is not None)
        bench.open_sae(sae_dir)
        bench.open_feature_db(db_path)
    settle(lambda: win.browser.model.rowCount() > 0 and bench.steering_unavailable() is None)
    bench.set_master(duration=4.0, seed=3, prompt="simple melody")
    shot("01-browser")
    win.browser.search.setText("piano")
    settle()
    win.browser.table.selectRow(0)
    settle(lambda: win.inspector.record is not None)
    shot("02-search-inspector")
    win.browser.search.clear()
    bench.auto_render = False
    labels = {row.id: row.best_label or "" for row in win.browser.model.rows}
    for fid, strength in ((win.inspector.record.id, 2.5), (7, -1.5)):
        bench.add_feature(fid, labels.get(fid, ""))
        bench.update_channel(fid, strength=strength)
    bench.render()
    settle(lambda: bench.current_take is not None)
    settle(lambda: win.arrangement._shown is not None)
    win.transport.set_loop_enabled(True)
    win.transport.seek(1.3)
    shot("03-rendered-steered")
    win.transport.toggle_ab()
    settle(lambda: win.arrangement._shown[1] == "unsteered")
    shot("04-ab-unsteered")
    win.close()
    offline = make_window("offline")
    win, bench = offline, offline.bench
    bench.open_feature_db(
        Path(bench.project.feature_db_path or (tmp / "features.db")), offline=True
    )
    settle(lambda: win.browser.model.rowCount() > 0)
    bench.select_feature(3)
    settle(lambda: win.inspector.record is not None)
    shot("05-offline-inspection")
    offline.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
