"""Logging (rotating file + Qt messages) and error dialogs that keep the app running."""

from __future__ import annotations

import logging
import logging.handlers
import sys
import traceback
from pathlib import Path

from PySide6.QtCore import QtMsgType, qInstallMessageHandler
from PySide6.QtWidgets import QMessageBox, QWidget

from musae_core.errors import MusaeError

log = logging.getLogger("musae.app")


def setup_logging(folder: Path, level: int = logging.INFO) -> Path:
    """Log to a rotating file in ``folder`` and route Qt's own messages into it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "musae-app.log"
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=2_000_000, backupCount=3)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    levels = {
        QtMsgType.QtDebugMsg: logging.DEBUG,
        QtMsgType.QtInfoMsg: logging.INFO,
        QtMsgType.QtWarningMsg: logging.WARNING,
        QtMsgType.QtCriticalMsg: logging.ERROR,
        QtMsgType.QtFatalMsg: logging.CRITICAL,
    }

    def qt_handler(kind, context, message) -> None:
        logging.getLogger("qt").log(levels.get(kind, logging.INFO), message)

    qInstallMessageHandler(qt_handler)
    return path


def show_error(parent: QWidget | None, problem: str, fix: str = "") -> QMessageBox:
    """A non-blocking dialog with the problem and its fix (never ``exec``: tests stay live)."""
    log.error("%s %s", problem, f"Fix: {fix}" if fix else "")
    box = QMessageBox(QMessageBox.Warning, "musae", problem, QMessageBox.Ok, parent)
    if fix:
        box.setInformativeText(f"Fix: {fix}")
    box.setObjectName("errorDialog")
    box.setModal(False)
    box.show()
    return box


def install_excepthook(parent_getter) -> None:
    """Uncaught exceptions in slots are logged and shown; the event loop keeps going."""

    def hook(kind, value, tb) -> None:
        if isinstance(value, MusaeError):
            show_error(parent_getter(), value.problem, value.fix)
            return
        text = "".join(traceback.format_exception(kind, value, tb))
        log.error("uncaught exception:\n%s", text)
        show_error(parent_getter(), f"Unexpected error: {value}", "details are in the log file.")

    sys.excepthook = hook
