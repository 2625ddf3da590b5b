"""Logging (rotating file + Qt messages) and error dialogs that keep the app running."""

from __future__ import annotations

import logging
import logging.handlers
import sys
import traceback
from pathlib import Path

from PySide6.QtCore import Qt, QtMsgType, qInstallMessageHandler
from PySide6.QtWidgets import QMessageBox, QWidget

from musae_core.errors import MusaeError

log = logging.getLogger("musae.app")
_log_path: Path | None = None


def log_file() -> Path:
    """The app's log file (where ``setup_logging`` put it, else where it would go)."""
    if _log_path is not None:
        return _log_path
    from musae_core.workstation.settings import data_dir

    return data_dir() / "logs" / "musae-app.log"


def setup_logging(folder: Path, level: int = logging.INFO) -> Path:
    """Log to a rotating file in ``folder`` and route Qt's own messages into it."""
    global _log_path
    folder.mkdir(parents=True, exist_ok=True)
    path = _log_path = folder / "musae-app.log"
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
    """A dialog with the problem and its fix. Application-modal, so it takes the keyboard (a
    typed letter never reaches the window's single-key shortcuts), but shown with ``show``,
    not ``exec``: the caller (and the tests) carry on while it is open."""
    log.error("%s %s", problem, f"Fix: {fix}" if fix else "")
    box = QMessageBox(QMessageBox.Warning, "musae", problem, QMessageBox.Ok, parent)
    if fix:
        box.setInformativeText(f"Fix: {fix}")
    box.setObjectName("errorDialog")
    box.setAttribute(Qt.WA_DeleteOnClose)
    box.setWindowModality(Qt.ApplicationModal)
    box.show()
    box.raise_()
    box.activateWindow()
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
