"""File > Export feature pages…: the browser's visible features as a static HTML site.

The export runs as a job (progress and cancel in the jobs panel) over the open feature
database; when it is done the index opens in the system browser.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QFileDialog, QMessageBox

from app.errors import show_error

ACTION_TEXT = "Export feature pages…"
NO_DB = ("No feature database is open.", "open one with File > Open feature database first.")
NO_ROWS = ("The browser shows no features to export.", "clear the search or filters.")


def visible_features(window) -> list[int]:
    """The features the browser shows now (its search and filters applied), in its order."""
    browser = window.browser
    rows = (browser.row_at(i) for i in range(browser.proxy.rowCount()))
    return [row.id for row in rows if row is not None]


def export_pages(window, features: list[int], out: str | Path, open_when_done: bool = True):
    """Start the export job; returns it (None when there is nothing to export)."""
    from musae_core.workstation.pages import export_feature_pages

    bench = window.bench
    db = bench.session.db
    if db is None:
        show_error(window, *NO_DB)
        return None
    if not features:
        show_error(window, *NO_ROWS)
        return None

    def work(progress, cancel):
        return export_feature_pages(
            db, features, out, overwrite=True, progress=progress, cancel=cancel
        )

    def done(report) -> None:
        bench.status.emit(report.summary())
        if open_when_done:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(report.index)))

    title = f"Exporting {len(features)} feature pages"
    return bench.jobs.start("export-pages", title, work, on_done=done)


def export_dialog(window) -> None:
    """Ask for a parent folder, confirm replacing an earlier export, then export."""
    if window.bench.session.db is None:
        show_error(window, *NO_DB)
        return
    parent = QFileDialog.getExistingDirectory(window, "Export feature pages into folder")
    if not parent:
        return
    out = Path(parent) / f"{Path(window.bench.session.db.path).stem}-pages"
    if out.exists():
        answer = QMessageBox.question(window, "musae", f"Replace the pages in {out}?")
        if answer != QMessageBox.Yes:
            return
    export_pages(window, visible_features(window), out)


def install(window) -> None:
    """Add the action to the File menu, after "Export take as WAV…" when it is there."""
    file_menu = window.menuBar().actions()[0].menu()
    actions = file_menu.actions()
    anchor = next((a for a in actions if a.text().startswith("Export take")), None)
    after = actions[actions.index(anchor) + 1] if anchor in actions[:-1] else None
    action = file_menu.addAction(ACTION_TEXT)
    if after is not None:
        file_menu.insertAction(after, action)
    action.triggered.connect(lambda _on=False: export_dialog(window))
