"""``musae-app``: the desktop workstation. No arguments opens the embedded demo project when
it exists, else an empty project on the tiny model."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

DEMO_DIR = Path(__file__).resolve().parents[1] / "resources" / "demo"
log = logging.getLogger("musae.app")


def demo_project() -> Path | None:
    """The user's own copy of the shipped demo project (see musae_core/demo/ship.py): the app's
    default project, and its one import of the demo (a registration point, docs/demo.md)."""
    from musae_core.demo.ship import user_demo_project
    from musae_core.workstation.settings import data_dir

    return user_demo_project(DEMO_DIR, data_dir() / "demo")


def gui_thread_gc(interval: float = 1.0):
    """Collect Python garbage only on the GUI thread (on a timer, automatic GC off).

    Render and load jobs allocate a lot on worker threads; an automatic collection there can
    free Qt objects (closed strips, pyqtgraph items) off the GUI thread and crash Qt. Keep the
    returned object alive for as long as the application runs.
    """
    from pyqtgraph.util.garbage_collector import GarbageCollector

    return GarbageCollector(interval=interval)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="musae-app", description=__doc__.splitlines()[0])
    parser.add_argument("project", nargs="?", help="a .musae.json project to open")
    parser.add_argument("--feature-db", help="open a feature database (alone: offline inspection)")
    parser.add_argument("--model", help="model id: 'tiny', a folder or a Hugging Face id")
    parser.add_argument("--sae", help="an SAE folder to steer with")
    return parser


def open_from_args(window, args: argparse.Namespace) -> None:
    """Apply the command line to a fresh window (each load runs as a background job)."""
    bench = window.bench
    project = args.project or (None if (args.feature_db or args.model) else demo_project())
    if project:
        bench.open_project(project)
        return
    if args.feature_db and not args.model:
        bench.open_feature_db(args.feature_db, offline=True)
        return
    bench.new_project(args.model or "tiny")
    if args.feature_db:
        bench.open_feature_db(args.feature_db)
    if args.sae:
        bench.open_sae(args.sae)


def splash(app):
    """A small "starting" card, shown before the engine (torch) is imported: seconds of it."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QColor, QPixmap
    from PySide6.QtWidgets import QSplashScreen

    pixmap = QPixmap(460, 90)
    pixmap.fill(QColor("#202124"))
    card = QSplashScreen(pixmap)
    card.showMessage(
        "musae\nStarting: loading the engine (PyTorch)…", Qt.AlignCenter, QColor("#e8eaed")
    )
    card.show()
    app.processEvents()
    return card


def main(argv: Sequence[str] | None = None) -> int:
    started = time.perf_counter()
    from musae_core import threads

    threads.prepare()  # before torch is imported (passive OpenMP waiting, see threads.py)
    args = build_parser().parse_args(argv)
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("musae")
    app.setOrganizationName("musae")
    card = splash(app)
    splash_at = time.perf_counter() - started
    from app.errors import install_excepthook, setup_logging
    from musae_core.workstation.settings import data_dir

    log_path = setup_logging(data_dir() / "logs")
    log.info("startup: splash shown after %.2f s", splash_at)
    from app.theme import apply_dark_theme
    from app.window import MainWindow  # imports the engine: the slow part of starting
    from musae_core.workstation.settings import Settings

    log.info("startup: engine imported after %.2f s", time.perf_counter() - started)
    apply_dark_theme(app)
    collector = gui_thread_gc()  # noqa: F841 (kept alive for the app's lifetime)
    settings = Settings.load()
    threads.set_setting(settings.threads)
    window = MainWindow(settings)
    install_excepthook(lambda: window)
    window.statusBar().showMessage(f"Log: {log_path}", 5000)
    window.show()
    card.finish(window)
    log.info("startup: window shown after %.2f s", time.perf_counter() - started)
    open_from_args(window, args)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
