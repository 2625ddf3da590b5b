"""The scripted newcomer walk: the real ``musae-app`` (``app.main.main``) in a real X window.

First launch (fresh config and data folders: the shipped demo opens), search, inspect, play a
clip, add two features, render, A/B, loop, export, save as to a new folder, move the folder,
reopen, undo. Screenshots go to docs/screenshots/walk-*.png. It fails (exit 1, one line per
problem) on any traceback, any error dialog it did not cause, or a render slower than
``--max-render`` seconds (issue 18's target: A+B of a 5 s demo take <= 10 s on 2 cores).

    make walk                              # under xvfb-run
    python scripts/walk.py                 # re-runs itself under xvfb-run when there's no display
    python scripts/walk.py --busy 1        # one busy background process, as in the target
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "docs" / "screenshots"
STEP_TIMEOUT = 240.0  # seconds; a loaded 2-core box opens the demo in ~10-60 s


class WalkFailed(Exception):
    pass


def busy_loop() -> None:
    while True:
        pass


class Walk:
    def __init__(self, app, args) -> None:
        self.app, self.args = app, args
        self.problems: list[str] = []
        self.dialog_seen = False
        self.shot = 0
        self.win = None
        self.started = time.monotonic()

    # --- plumbing ----------------------------------------------------------------------------
    def process(self) -> None:
        """One pass of the event loop as ``exec`` runs it: ``processEvents`` alone never runs
        deferred deletes, so a removed mixer strip (``deleteLater``) stayed in the shots."""
        from PySide6.QtCore import QCoreApplication, QEvent

        self.app.processEvents()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)

    def pump(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.process()
            self.watch_dialogs()
            time.sleep(0.01)

    def wait(self, what: str, cond, timeout: float = STEP_TIMEOUT) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.process()
            self.watch_dialogs()
            if cond():
                return
            time.sleep(0.02)
        raise WalkFailed(f"timed out after {timeout:.0f} s waiting for {what}")

    def watch_dialogs(self) -> None:
        """Any visible message box the walk did not ask for is a failure (closed, recorded)."""
        from PySide6.QtWidgets import QMessageBox

        for w in self.app.topLevelWidgets():
            if isinstance(w, QMessageBox) and w.isVisible():
                text = f"{w.text()} {w.informativeText()}".strip()
                self.problems.append(f"unexpected dialog: {text}")
                w.close()

    def excepthook(self, kind, value, tb) -> None:
        text = "".join(traceback.format_exception(kind, value, tb))
        self.problems.append(f"traceback:\n{text}")
        self._app_hook(kind, value, tb)

    def screenshot(self, name: str) -> None:
        self.pump(0.3)
        self.shot += 1
        path = Path(self.args.shots) / f"walk-{self.shot:02d}-{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.win.grab().save(str(path))

    def action(self, *words: str, exclude: str = ""):
        """A menu/toolbar action whose text has all ``words`` (robust to icons and shortcuts)."""
        from PySide6.QtGui import QAction

        for act in self.win.findChildren(QAction):
            text = act.text().replace("&", "")
            if all(w in text for w in words) and not (exclude and exclude in text):
                return act
        raise WalkFailed(f"no action named like {' '.join(words)!r}")

    def drive_file_dialog(self, fill, path: Path | None = None) -> None:
        """Before opening a file dialog: have a timer fill and accept it once it is shown.

        ``path`` is typed into the file-name box (the dialog's folder listing loads
        asynchronously, so selecting a file that is not listed yet can silently fail); the
        timer retries until the dialog has closed.
        """
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QFileDialog, QLineEdit

        start = time.monotonic()
        mine: list = []  # the dialog this driver handles; it stops once that one has closed

        def poll() -> None:
            dialog = self.app.activeModalWidget()
            if mine and dialog is not mine[0]:
                return
            if isinstance(dialog, QFileDialog):
                mine[:] = [dialog]
                self.dialog_seen = True
                try:
                    fill(dialog)
                    edit = dialog.findChild(QLineEdit, "fileNameEdit")
                    if path is not None and edit is not None:
                        edit.setText(str(path))
                finally:
                    dialog.accept()
                if time.monotonic() - start < 15:
                    QTimer.singleShot(300, poll)  # still open (nothing accepted yet): again
            elif time.monotonic() - start < 15:
                QTimer.singleShot(50, poll)
            elif not self.dialog_seen:
                self.problems.append("a file dialog did not appear (native dialog?)")

        self.dialog_seen = False
        QTimer.singleShot(50, poll)

    def job_done(self, kind: str) -> bool:
        return self.win.bench.jobs.current(kind) is None

    # --- the walk ----------------------------------------------------------------------------
    def run(self) -> None:
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QMainWindow

        wins = [w for w in self.app.topLevelWidgets() if isinstance(w, QMainWindow)]
        if not wins:  # the start-up card pumps events before the window exists: look again
            if time.monotonic() - self.started > STEP_TIMEOUT:
                self.problems.append("the app opened no main window")
                self.app.exit(1)
            else:
                QTimer.singleShot(200, self.run)
            return
        self._app_hook = sys.excepthook
        sys.excepthook = self.excepthook
        self.win = win = wins[0]
        asked: list[str] = []  # the unsaved-changes question, answered as a musician might
        win.unsaved_prompt = lambda _w, _name, action: asked.append(action) or "discard"
        try:
            for step in (
                self.first_launch,
                self.search_inspect,
                self.play_clip,
                self.add_two_features,
                self.render,
                self.ab_loop,
                self.export,
                self.save_move_reopen,
                self.undo,
            ):
                print(f"walk: {step.__name__}", flush=True)
                step()
        except WalkFailed as exc:
            self.problems.append(str(exc))
        except Exception:
            self.problems.append(f"walk step crashed:\n{traceback.format_exc()}")
        finally:
            self.pump(0.5)
            dirty = win.bench.dirty
            win.close()
            if dirty and asked != ["quit"]:
                self.problems.append(f"quitting with unsaved changes asked {asked}")
            self.app.exit(1 if self.problems else 0)

    def first_launch(self) -> None:
        bench, win = self.win.bench, self.win
        self.wait(
            "the demo project to open",
            lambda: (
                bench.session.model is not None
                and win.browser.model.rowCount() > 0
                and self.job_done("load")
            ),
        )
        self.screenshot("first-launch")

    def search_inspect(self) -> None:
        from PySide6.QtTest import QTest

        browser = self.win.browser
        total = browser.proxy.rowCount()
        browser.search.setFocus()
        QTest.keyClicks(browser.search, self.args.search)
        self.wait("search results", lambda: 0 < browser.proxy.rowCount() < total, 30)
        browser.table.selectRow(0)
        self.wait("the inspector", lambda: self.win.inspector.record is not None)
        self.wait("top clips", lambda: len(getattr(self.win.inspector, "clip_widgets", [])) > 0)
        self.screenshot("search-inspect")

    def play_clip(self) -> None:
        from PySide6.QtCore import Qt
        from PySide6.QtTest import QTest

        out = self.win.output
        QTest.mouseClick(self.win.inspector.clip_widgets[0].play, Qt.LeftButton)
        self.wait("the clip to play", lambda: out.playing, 30)
        self.wait("the clip to end", lambda: not out.playing, 60)
        self.pump(0.5)
        if getattr(out, "stream_open", False):
            self.problems.append("the audio stream stayed open after the clip ended")

    def add_two_features(self) -> None:
        bench, browser, inspector = self.win.bench, self.win.browser, self.win.inspector
        for row in (0, 1):
            browser.table.selectRow(row)
            wanted = browser.row_at(row).id
            shown = lambda w=wanted: inspector.record is not None and inspector.record.id == w  # noqa: E731
            self.wait(f"feature {wanted} in the inspector", shown)
            inspector.add.click()
        self.wait("two mixer channels", lambda: len(bench.mixer.features()) == 2, 10)
        for feature in bench.mixer.features():
            bench.update_channel(feature, strength=self.args.strength)
        self.screenshot("two-features")

    def render(self) -> None:
        bench = self.win.bench
        before = bench.current_take
        self.action("Render", exclude="Play").trigger()
        self.wait(
            "the render",
            lambda: (
                bench.current_take is not before
                and bench.current_take is not None
                and self.job_done("render")
            ),
        )
        take = bench.current_take
        seconds = float(take.render_seconds or 0.0)
        print(f"walk: A+B render of {take.duration:.1f} s took {seconds:.1f} s", flush=True)
        if seconds > self.args.max_render:
            self.problems.append(f"render took {seconds:.1f} s > {self.args.max_render:g} s")
        self.screenshot("rendered")

    def ab_loop(self) -> None:
        t = self.win.transport
        self.action("A/B").trigger()
        if t.ab != "unsteered":
            raise WalkFailed(f"A/B did not switch to unsteered (it is {t.ab})")
        self.action("Loop").trigger()
        if not t.loop_enabled:
            raise WalkFailed("Loop did not switch on")
        play = self.action("Play", exclude="Render")
        play.trigger()
        self.wait("playback", lambda: self.win.output.playing, 10)
        self.pump(1.0)
        play.trigger()
        self.screenshot("ab-loop")

    def export(self) -> None:
        seen: dict = {}

        def fill(dialog) -> None:
            seen["title"], seen["folder"] = dialog.windowTitle(), dialog.directory().absolutePath()
            if hasattr(dialog, "set_side"):
                dialog.set_side("both")

        self.drive_file_dialog(fill)
        self.action("Export").trigger()
        self.wait("the export", lambda: self.job_done("export"), 60)
        folder = Path(seen.get("folder", "."))
        if "unsteered" not in seen.get("title", ""):
            self.problems.append(f"export dialog does not name the side: {seen.get('title')!r}")
        if folder.resolve() == Path.cwd().resolve():
            self.problems.append("export dialog opened in the working directory")
        take = self.win.bench.current_take.take_id
        for side in ("steered", "unsteered"):
            if not (folder / f"take-{take}-{side}.wav").is_file():
                self.problems.append(f"export wrote no take-{take}-{side}.wav in {folder}")

    def save_move_reopen(self) -> None:
        bench, win = self.win.bench, self.win
        first = Path(self.args.home) / "projects" / "song"
        first.mkdir(parents=True)
        self.drive_file_dialog(lambda d: None, first / "song.musae.json")
        self.action("Save", "as").trigger()
        self.wait(
            "the save",
            lambda: (
                self.job_done("save")
                and (first / "song.musae.json").is_file()
                and not bench.dirty  # the job's result has reached the window, too
            ),
        )
        moved = Path(self.args.home) / "moved" / "song"
        moved.parent.mkdir(parents=True)
        shutil.move(str(first), str(moved))
        features = bench.mixer.features()
        self.drive_file_dialog(lambda d: None, moved / "song.musae.json")
        self.action("Open project").trigger()
        self.wait(
            "the reopened project",
            lambda: (
                bench.project.path is not None
                and bench.project.path.parent == moved
                and self.job_done("load")
            ),
        )
        self.wait("its model", lambda: bench.session.model is not None, 60)
        take = bench.current_take
        if take is None or not take.loaded:
            self.problems.append("the reopened project lost its take audio")
        if bench.session.sae is None or bench.session.db is None:
            self.problems.append("the moved project lost its SAE or feature database")
        if bench.mixer.features() != features:
            self.problems.append("the reopened mixer differs from the saved one")
        t = win.transport
        if t.ab != "unsteered" or not t.loop_enabled:
            self.problems.append(f"reopen did not restore A/B ({t.ab}) and loop ({t.loop_enabled})")
        self.screenshot("reopened")

    def undo(self) -> None:
        bench = self.win.bench
        features = bench.mixer.features()
        bench.remove_feature(features[0])
        self.action("Undo").trigger()
        if bench.mixer.features() != features:
            raise WalkFailed(f"undo did not bring the channel back: {bench.mixer.features()}")
        self.pump(0.3)
        from app.mixer_panel import ChannelStrip

        shown = [w for w in self.win.mixer.findChildren(ChannelStrip) if w.isVisible()]
        if len(shown) != len(features):  # what the screenshot shows, not only the model
            raise WalkFailed(f"the mixer shows {len(shown)} strips for {len(features)} channels")
        self.screenshot("undo")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shots", default=str(SHOTS), help="screenshot folder")
    p.add_argument("--home", default="", help="fresh HOME for the walk (default: a temp folder)")
    p.add_argument("--max-render", type=float, default=10.0, help="seconds an A+B render may take")
    p.add_argument("--busy", type=int, default=0, help="busy background processes during the walk")
    p.add_argument("--search", default="piano")
    p.add_argument("--strength", type=float, default=1.0)
    p.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if not args.inner:  # run the app in a child: its stderr is scanned for tracebacks too
        env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
        cmd = [sys.executable, __file__, "--inner", *(argv if argv is not None else sys.argv[1:])]
        if not os.environ.get("DISPLAY"):
            if not shutil.which("xvfb-run"):
                print("walk: needs an X display or xvfb-run (apt-get install xvfb xauth)")
                return 2
            cmd = ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", *cmd]
        proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
        seen_traceback = False
        for line in proc.stderr:
            sys.stderr.write(line)
            seen_traceback |= line.startswith("Traceback")
        code = proc.wait()
        if seen_traceback:
            print("walk: FAIL a traceback on the app's stderr (above)")
        return code or int(seen_traceback)
    home = Path(args.home or tempfile.mkdtemp(prefix="musae-walk-"))
    args.home = str(home)
    fresh = {
        "HOME": "",
        "XDG_CONFIG_HOME": ".config",
        "XDG_DATA_HOME": ".local/share",
        "XDG_CACHE_HOME": ".cache",
    }
    for var, sub in fresh.items():  # a first launch: no settings, layout or demo copy yet
        os.environ[var] = str(home / sub)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if os.environ.get("DISPLAY"):
        os.environ.pop("QT_QPA_PLATFORM", None)  # a real window, not offscreen
    sys.path.insert(0, str(ROOT))
    hogs = [mp.Process(target=busy_loop, daemon=True) for _ in range(args.busy)]
    for h in hogs:
        h.start()
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    import app.main

    qapp = QApplication(sys.argv[:1])
    walk = Walk(qapp, args)
    QTimer.singleShot(0, lambda: walk.run())
    try:
        app.main.main([])
    except Exception:
        walk.problems.append(f"the app crashed:\n{traceback.format_exc()}")
    finally:
        for h in hogs:
            h.kill()
    log = home / ".local" / "share" / "musae" / "logs" / "musae-app.log"
    if log.is_file() and "Traceback" in log.read_text(errors="replace"):
        walk.problems.append(f"a traceback in the app log {log}")
    for problem in walk.problems:
        print(f"walk: FAIL {problem}", flush=True)
    print(f"walk: {'FAILED' if walk.problems else 'passed'}; screenshots in {args.shots}")
    return 1 if walk.problems else 0


if __name__ == "__main__":
    sys.exit(main())
