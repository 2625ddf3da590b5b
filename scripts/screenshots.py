"""Drive the desktop app through the main flow and save screenshots to docs/screenshots/.

First builds (or reuses, from ``build/screenshot-project/``) a real small project with musae's
own pipeline on the tiny model (see scripts/screenshots_project.py), then opens it in the app and
performs the flow with real widget events: search, inspect, add two features to the mixer, turn
their knobs, draw a strength envelope, render, A/B, export, and offline inspection.

Runs on the offscreen platform (the default here) or under Xvfb with a real X server
(scripts/screenshots_xvfb.sh); with ``MUSAE_ROOT_SHOT=1`` and a DISPLAY it also saves a full-screen
shot taken with ImageMagick's ``import -window root``.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshots.py [--demo-only]

The first shot (00-demo-project) is the shipped demo (resources/demo) with a feature rendered.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
OUT = ROOT / "docs" / "screenshots"
TIMEOUT = 180.0


class Driver:
    """Processes events until jobs finish, and sends real mouse events to widgets."""

    def __init__(self, app, window) -> None:
        self.app, self.win = app, window

    def pump(self) -> None:
        """One pass of the event loop as ``exec`` runs it, deferred deletes included:
        ``processEvents`` alone never deletes, and Qt retires a dock group's old tab bar with
        ``deleteLater`` (without this a ghost "Master | Jobs" bar showed in the shots)."""
        from PySide6.QtCore import QCoreApplication, QEvent

        self.app.processEvents()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)

    def settle(self, predicate=lambda: True, timeout: float = TIMEOUT) -> None:
        end = time.monotonic() + timeout
        jobs = self.win.bench.jobs
        while time.monotonic() < end:
            self.pump()
            busy = any(j.state in ("queued", "running") for j in jobs.jobs)
            if predicate() and not busy:
                break
            time.sleep(0.02)
        else:
            print("warning: timed out waiting", file=sys.stderr)
        for _ in range(20):
            self.pump()
            time.sleep(0.01)

    def shot(self, name: str) -> Path:
        self.settle()
        path = OUT / f"{name}.png"
        self.win.grab().save(str(path))
        print("wrote", path, flush=True)
        return path

    def mouse(self, widget, kind, pos, button, buttons, modifiers=None) -> None:
        from PySide6.QtCore import QPointF, Qt
        from PySide6.QtGui import QMouseEvent
        from PySide6.QtWidgets import QApplication

        pos = QPointF(pos)
        event = QMouseEvent(
            kind, pos, widget.mapToGlobal(pos), button, buttons, modifiers or Qt.NoModifier
        )
        QApplication.sendEvent(widget, event)

    def drag_knob(self, knob, dy: int) -> None:
        """A vertical knob drag: press, a few moves, release (one undo step)."""
        from PySide6.QtCore import QPointF, Qt
        from PySide6.QtGui import QMouseEvent

        c = QPointF(knob.rect().center())
        left = Qt.LeftButton
        self.mouse(knob, QMouseEvent.MouseButtonPress, c, left, left)
        for step in range(1, 9):
            pos = QPointF(c.x(), c.y() - dy * step / 8)
            self.mouse(knob, QMouseEvent.MouseMove, pos, Qt.NoButton, left)
            self.app.processEvents()
        self.mouse(knob, QMouseEvent.MouseButtonRelease, pos, left, Qt.NoButton)

    def click_lane(self, seconds: float, y: float) -> None:
        """A left click on the arrangement's lanes at (time, lane y): adds an envelope point."""
        from PySide6.QtCore import QPointF, Qt
        from PySide6.QtTest import QTest

        view = self.win.arrangement
        scene = view.lanes.getViewBox().mapViewToScene(QPointF(seconds, y))
        QTest.mouseClick(view.plots.viewport(), Qt.LeftButton, pos=view.plots.mapFromScene(scene))


def make_window(tmp: Path, name: str):
    from PySide6.QtCore import QSettings

    from app.window import MainWindow
    from musae_core.workstation import Settings

    layout = QSettings(str(tmp / f"{name}.ini"), QSettings.IniFormat)
    window = MainWindow(Settings(autosave_seconds=0), layout, tmp / f"{name}.json")
    window.unsaved_prompt = lambda *_args: "discard"  # the shots never save their edits
    window.resize(1600, 1000)
    window.show()
    return window


def root_shot(name: str) -> None:
    """Full X screen via ImageMagick, when asked for and possible (under Xvfb)."""
    if os.environ.get("MUSAE_ROOT_SHOT") != "1" or not os.environ.get("DISPLAY"):
        return
    if shutil.which("import") is None:
        print("warning: ImageMagick `import` is missing; no full-screen shot", file=sys.stderr)
        return
    path = OUT / f"{name}.png"
    subprocess.run(["import", "-window", "root", str(path)], check=True, timeout=60)
    print("wrote", path, "(import -window root)", flush=True)


def sort_by(browser, title: str, ascending: bool = False) -> None:
    from PySide6.QtCore import Qt

    model = browser.table.model()
    for col in range(model.columnCount()):
        if model.headerData(col, Qt.Horizontal) == title:
            order = Qt.AscendingOrder if ascending else Qt.DescendingOrder
            browser.table.sortByColumn(col, order)


def search_term(rows) -> str:
    """A word from the best-labelled feature's label (labels come from the real labeller)."""
    labelled = [r for r in rows if r.best_label and not r.dead]
    labelled.sort(key=lambda r: -(r.label_score or 0.0))
    return labelled[0].best_label.split()[0] if labelled else ""


def flow(app, tmp: Path, project_file: Path) -> None:
    win = make_window(tmp, "main")
    d, bench = Driver(app, win), win.bench
    bench.open_project(project_file)
    d.settle(lambda: win.browser.model.rowCount() > 0 and bench.steering_unavailable() is None)
    sort_by(win.browser, "Score")  # a click on the Score header: labelled features first
    d.shot("01-browser")
    sort_by(win.browser, "ID", ascending=True)
    term = search_term(win.browser.model.rows)
    win.browser.search.setFocus()
    win.browser.search.setText(term)
    d.settle(lambda: win.browser.proxy.rowCount() > 0)
    win.browser.table.selectRow(0)
    d.settle(lambda: win.inspector.record is not None)
    d.shot("02-search-inspector")
    first = win.inspector.record.id
    win.mixer.auto.setChecked(False)  # render once, explicitly, after both knobs
    win.mixer.add_button.click()
    win.browser.search.clear()
    d.settle()
    live = [r for r in win.browser.model.rows if not r.dead and r.id != first]
    second = max(live, key=lambda r: r.max_activation).id
    bench.select_feature(second)
    d.settle(lambda: win.inspector.record is not None and win.inspector.record.id == second)
    win.mixer.add_button.click()
    d.settle(lambda: len(win.mixer.strips) == 2)
    d.drag_knob(win.mixer.strips[first].knob, 90)
    d.drag_knob(win.mixer.strips[second].knob, -50)
    win.mixer.strips[first].envelope.click()  # strength envelope on the first lane
    d.settle()
    d.click_lane(bench.master.duration * 0.5, 0.1)  # a dip to 10 % in the middle
    win.transport_bar.render_action.trigger()
    d.settle(lambda: bench.current_take is not None)
    d.settle(lambda: win.arrangement._shown is not None)
    win.transport.set_loop_enabled(True)
    win.transport.seek(1.3)
    d.shot("03-rendered-steered")
    root_shot("07-xvfb-full-screen")
    win.transport_bar.ab_action.trigger()
    d.settle(lambda: win.arrangement._shown[1] == "unsteered")
    d.shot("04-ab-unsteered")
    win.transport_bar.ab_action.trigger()
    (tmp / "export").mkdir()
    bench.export(tmp / "export" / "take.wav", win.transport.ab)
    win.docks["jobs"].raise_()
    d.settle(lambda: (tmp / "export" / "take.json").is_file())
    d.shot("06-export-jobs")
    win.close()


def offline(app, tmp: Path, db_path: Path) -> None:
    win = make_window(tmp, "offline")
    d, bench = Driver(app, win), win.bench
    bench.open_feature_db(db_path, offline=True)
    d.settle(lambda: win.browser.model.rowCount() > 0)
    labelled = [r for r in win.browser.model.rows if r.best_label and not r.dead]
    bench.select_feature((labelled or win.browser.model.rows)[0].id)
    d.settle(lambda: win.inspector.record is not None)
    d.shot("05-offline-inspection")
    win.close()


def demo(app, tmp: Path) -> None:
    """The shipped demo project as `musae-app` opens it: a piano feature turned up, rendered."""
    from app.main import DEMO_DIR
    from musae_core.demo.ship import user_demo_project

    project = user_demo_project(DEMO_DIR, tmp / "data" / "demo")
    if project is None:
        print("warning: resources/demo is not built; no demo shot", file=sys.stderr)
        return
    win = make_window(tmp, "demo")
    d, bench = Driver(app, win), win.bench
    win.mixer.auto.setChecked(False)
    bench.open_project(project)
    d.settle(lambda: win.browser.model.rowCount() > 0 and bench.steering_unavailable() is None)
    live = [r for r in win.browser.model.rows if not r.dead and r.best_label]
    pianos = [r for r in live if r.best_label == "piano"] or live
    feature = max(pianos, key=lambda r: r.label_score or 0.0).id
    bench.select_feature(feature)
    d.settle(lambda: win.inspector.record is not None and win.inspector.record.id == feature)
    win.mixer.add_button.click()
    d.settle(lambda: len(win.mixer.strips) == 1)
    d.drag_knob(win.mixer.strips[feature].knob, 20)  # ~+0.8: the coarse demo features are strong
    win.transport_bar.render_action.trigger()
    d.settle(lambda: bench.current_take is not None)
    d.settle(lambda: win.arrangement._shown is not None)
    d.shot("00-demo-project")
    win.close()


def main() -> int:
    from PySide6.QtWidgets import QApplication

    from app.main import gui_thread_gc
    from app.theme import apply_dark_theme

    app = QApplication.instance() or QApplication([])
    apply_dark_theme(app)
    collector = gui_thread_gc()  # noqa: F841 (GC only on the GUI thread, as in the app)
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="musae-shots-"))
    demo(app, tmp)
    if "--demo-only" in sys.argv[1:]:
        return 0
    from screenshots_project import build

    project_file = build()
    flow(app, tmp, project_file)
    offline(app, tmp, project_file.parent / "features.db")
    return 0


if __name__ == "__main__":
    sys.exit(main())
