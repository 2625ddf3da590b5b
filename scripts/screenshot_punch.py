"""Screenshot of a punch-in take on the shipped demo: render a take with a piano feature, set
the punch-in marker at 2.5 s, turn the feature down and punch in (docs/screenshots/08-punch-in.png).

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshot_punch.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from screenshots import Driver, make_window  # scripts/screenshots.py sets up paths and env


def main() -> int:
    from PySide6.QtWidgets import QApplication

    from app.main import DEMO_DIR, gui_thread_gc
    from app.theme import apply_dark_theme
    from musae_core.demo.ship import user_demo_project

    app = QApplication.instance() or QApplication([])
    apply_dark_theme(app)
    collector = gui_thread_gc()  # noqa: F841 (GC only on the GUI thread, as in the app)
    tmp = Path(tempfile.mkdtemp(prefix="musae-punch-shot-"))
    project = user_demo_project(DEMO_DIR, tmp / "data" / "demo")
    if project is None:
        print("resources/demo is not built", file=sys.stderr)
        return 1
    win = make_window(tmp, "punch")
    d, bench = Driver(app, win), win.bench
    win.mixer.auto.setChecked(False)
    bench.open_project(project)
    d.settle(lambda: win.browser.model.rowCount() > 0 and bench.steering_unavailable() is None)
    feature = 1641
    bench.select_feature(feature)
    d.settle(lambda: win.inspector.record is not None and win.inspector.record.id == feature)
    win.mixer.add_button.click()
    d.settle(lambda: len(win.mixer.strips) == 1)
    bench.update_channel(feature, strength=1.0)
    win.transport_bar.render_action.trigger()
    d.settle(lambda: bench.current_take is not None)
    parent = bench.current_take
    win.transport.seek(2.5)
    win.arrangement.mark_punch_at_playhead()
    bench.update_channel(feature, strength=-1.5)
    win.arrangement.punch_in()
    d.settle(lambda: bench.current_take is not parent and win.arrangement._shown is not None)
    d.settle(lambda: win.arrangement._shown[0] == bench.current_take.take_id)
    d.shot("08-punch-in")
    win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
