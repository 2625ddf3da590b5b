"""Ask before unsaved work is dropped: New, Open, Open recent, an offline feature database, Quit.

Why: the mixer, takes and master settings of an unsaved (or untitled) project were thrown away
without a word by Ctrl+N or by opening another project; autosave only covers a saved project
every two minutes. Save / Discard / Cancel, as every DAW asks; Save waits for the save job, and
the action goes ahead only once the project is really saved.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QCoreApplication, QEventLoop
from PySide6.QtWidgets import QMessageBox, QWidget

Prompt = Callable[[QWidget, str, str], str]
"""(window, project name, what the user is about to do) -> "save", "discard" or "cancel"."""


def ask(window: QWidget, name: str, action: str) -> str:
    box = QMessageBox(
        QMessageBox.Icon.Warning,
        "Unsaved changes",
        f"{name} has unsaved changes (mixer, takes or master settings).",
        QMessageBox.StandardButton.Save
        | QMessageBox.StandardButton.Discard
        | QMessageBox.StandardButton.Cancel,
        window,
    )
    box.setInformativeText(f"Save them before you {action}?")
    box.setDefaultButton(QMessageBox.StandardButton.Save)
    choice = box.exec()
    if choice == QMessageBox.StandardButton.Save:
        return "save"
    if choice == QMessageBox.StandardButton.Discard:
        return "discard"
    return "cancel"


def _wait_for_save(bench, timeout: float = 120.0, grace: float = 2.0) -> None:
    """Run the event loop until the save job has ended and its done handler (which clears
    ``dirty``) has run: a job reads as ended a moment before its result reaches this thread.
    A failed save leaves ``dirty`` set; ``grace`` bounds the wait for that case."""
    end = time.monotonic() + timeout
    while bench.jobs.current("save") is not None and time.monotonic() < end:
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
    end = time.monotonic() + grace
    while bench.dirty and time.monotonic() < end:
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)


def may_discard(window, action: str) -> bool:
    """True when the current project may be replaced or closed (saved, nothing changed, or the
    user chose to discard); a chosen Save runs first and must succeed."""
    bench = window.bench
    if not bench.dirty:
        return True
    path = bench.project.path
    choice = window.unsaved_prompt(window, path.name if path else "The untitled project", action)
    if choice == "discard":
        return True
    if choice != "save":
        return False
    window.save()  # an untitled project asks where (Save As); cancelling that cancels the action
    _wait_for_save(bench)
    return not bench.dirty
