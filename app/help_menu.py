"""The Help menu: keyboard shortcuts (read from the window's own actions, so the list is never
out of date), a short first-steps page, and About (versions, data folder, log file)."""

from __future__ import annotations

import platform
import sys
from html import escape

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

FIRST_STEPS = """
<h3>First steps</h3>
<ol>
<li><b>Wait for the model.</b> The feature browser fills as soon as the feature database is
open; the mixer unlocks when the model has loaded (the status bar shows the progress).</li>
<li><b>Find a feature.</b> Type in the browser's search box (Ctrl+F), e.g. <i>piano</i>, and
click a row: the inspector shows its labels, top clips (click to listen) and similar
features.</li>
<li><b>Mix it.</b> Press <b>+ Add feature</b>, double-click the row, or drag rows onto the
mixer. Drag a knob up or down to set the steering strength.</li>
<li><b>Render</b> (Ctrl+R). The unsteered and the steered take are generated with the same
seed; the arrangement shows the waveform, spectrogram and the feature's activation.</li>
<li><b>Listen and compare.</b> Space plays, B switches between the unsteered and steered take,
L loops the region dragged on the waveform.</li>
<li><b>Keep it.</b> File &gt; Save project as… writes a folder you can move or share;
Ctrl+E exports the take as WAV with a JSON recipe.</li>
</ol>
<p>Offline inspection (a feature database without a model) browses and plays cached clips
only; open a project with a model to steer.</p>
"""


def shortcut_rows(window: QWidget) -> list[tuple[str, str]]:
    """(keys, action) for every action of ``window`` that has a shortcut, in a stable order."""
    rows = set()
    for action in window.findChildren(QAction):
        keys = action.shortcut().toString(QKeySequence.NativeText)
        text = action.text().replace("&", "").replace("…", "").strip()
        if keys and text:
            rows.add((keys, text))
    return sorted(rows, key=lambda row: (len(row[0]) > 1, row[0]))


def shortcuts_html(window: QWidget) -> str:
    body = "".join(
        f"<tr><td><b>{escape(k)}</b></td><td>{escape(t)}</td></tr>"
        for k, t in shortcut_rows(window)
    )
    note = "Single keys (Space, L, B) work while the main window has the keyboard."
    return f"<h3>Keyboard shortcuts</h3><table cellpadding='3'>{body}</table><p>{note}</p>"


def about_html(data_folder: str, log_file: str, settings_file: str) -> str:
    import PySide6

    import musae_core

    versions = [
        ("musae", musae_core.__version__),
        ("Python", platform.python_version()),
        ("PySide6 / Qt", PySide6.__version__),
    ]
    for name in ("torch", "transformers", "numpy"):
        module = sys.modules.get(name)  # only report what is loaded: never import on the UI
        if module is not None:
            versions.append((name, getattr(module, "__version__", "?")))
    paths = [("data folder", data_folder), ("log file", log_file), ("settings", settings_file)]
    rows = "".join(
        f"<tr><td>{escape(k)}</td><td>{escape(str(v))}</td></tr>" for k, v in versions + paths
    )
    return (
        "<h3>musae</h3><p>Discover and steer sparse-autoencoder features inside MusicGen-family"
        f" music models (after arXiv 2505.18186).</p><table cellpadding='3'>{rows}</table>"
    )


class HelpDialog(QDialog):
    """A modal page of rich text (opened with ``open``: modal, but never blocks the caller)."""

    def __init__(self, title: str, html: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("helpDialog")
        self.setWindowTitle(title)
        self.setAttribute(Qt.WA_DeleteOnClose)
        self.text = QTextBrowser(openExternalLinks=False)
        self.text.setHtml(html)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(buttons)
        self.resize(560, 480)
