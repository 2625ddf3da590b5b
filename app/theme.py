"""Dark DAW-style palette and stylesheet, applied once to the QApplication."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

ACCENT = "#e0a030"
LANE_COLOURS = ("#e0a030", "#4fc3f7", "#aed581", "#f06292", "#ba68c8", "#ffb74d", "#4db6ac")

STYLE = f"""
QWidget {{ font-size: 10pt; }}
QDockWidget::title {{ background: #2a2d31; padding: 4px; }}
QToolBar {{ background: #24272b; border: none; spacing: 4px; }}
QPushButton:checked, QToolButton:checked {{ background: {ACCENT}; color: #111; }}
QLineEdit, QSpinBox, QDoubleSpinBox, QComboBox {{ background: #1b1d20; padding: 2px; }}
QHeaderView::section {{ background: #2a2d31; padding: 3px; border: none; }}
QLabel#note {{ color: #ffb74d; }}
QFrame#strip {{ background: #26292d; border: 1px solid #3a3d42; border-radius: 4px; }}
"""


def apply_dark_theme(app: QApplication) -> None:
    app.setStyle("Fusion")
    palette = QPalette()
    colours = {
        QPalette.Window: "#202326",
        QPalette.WindowText: "#dddddd",
        QPalette.Base: "#181a1c",
        QPalette.AlternateBase: "#222528",
        QPalette.Text: "#dddddd",
        QPalette.Button: "#2c2f33",
        QPalette.ButtonText: "#dddddd",
        QPalette.Highlight: ACCENT,
        QPalette.HighlightedText: "#111111",
        QPalette.ToolTipBase: "#2c2f33",
        QPalette.ToolTipText: "#dddddd",
        QPalette.PlaceholderText: "#888888",
    }
    for role, colour in colours.items():
        palette.setColor(role, QColor(colour))
    palette.setColor(QPalette.Disabled, QPalette.Text, QColor("#666666"))
    palette.setColor(QPalette.Disabled, QPalette.ButtonText, QColor("#666666"))
    app.setPalette(palette)
    app.setStyleSheet(STYLE)
    import pyqtgraph as pg

    pg.setConfigOptions(background="#181a1c", foreground="#bbbbbb", antialias=False)
