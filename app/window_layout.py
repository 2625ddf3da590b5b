"""The main window's default layout: dock sizes by screen width, panels that scroll when short.

Why here: the proportions (browser as wide as its columns, arrangement ~40 %, inspector at least
readable, every master setting in view) are one decision, tested at 1600 and 1280 px wide.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QMainWindow, QScrollArea, QWidget

INSPECTOR_MIN_WIDTH = 330  # narrower, its labels table and plots are too cramped to read


def scrolling(panel: QWidget) -> QScrollArea:
    """A tall panel in a scroll area, so its dock does not set the window's minimum height (the
    master settings alone made the window need 789 px: no fit on a 768-px laptop screen)."""
    scroll = QScrollArea(widgetResizable=True)
    scroll.setFrameShape(QFrame.NoFrame)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
    scroll.setWidget(panel)
    return scroll


def default_size(window: QMainWindow) -> None:
    """Fill most of the screen, and give the arrangement (the centre) the most room."""
    screen = window.screen().availableGeometry() if window.screen() else None
    width = min(1600, screen.width()) if screen else 1500
    height = min(1000, screen.height()) if screen else 920
    window.resize(width, height)
    dock_sizes(window)


def dock_sizes(window) -> None:
    """The browser as wide as its columns need, the arrangement ~40 % of the window (the widest
    panel: the DAW's centre), the inspector the rest (``INSPECTOR_MIN_WIDTH`` at the least);
    the bottom docks tall enough for every master setting."""
    width = window.width()
    side = [window.docks["browser"], window.docks["inspector"]]
    browser = max(window.browser.sizeHint().width(), int(width * 0.22))
    inspector = max(INSPECTOR_MIN_WIDTH, width - browser - int(width * 0.40))
    if browser + inspector + int(width * 0.30) > width:  # a narrow screen (1280 px): the
        browser = max(int(width * 0.30), width - inspector - int(width * 0.30))  # browser gives
        # way (its label column elides) before the inspector gets unreadable
    window.resizeDocks(side, [browser, inspector], Qt.Horizontal)
    bottom = [window.docks["mixer"], window.docks["master"]]
    window.resizeDocks(bottom, [int(width * 0.6), int(width * 0.4)], Qt.Horizontal)
    master = window.master.minimumSizeHint().height() + 60  # + the dock title and tab bar
    window.resizeDocks(bottom, [max(int(window.height() * 0.28), master)] * 2, Qt.Vertical)
