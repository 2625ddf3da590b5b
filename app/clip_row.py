"""One top clip in the inspector: play button, caption, and a painted strip with the clip's
spectrogram over the feature's activation timeline and the clip's own playhead.

Painted with QPainter rather than pyqtgraph plots: a row costs well under a millisecond to
build, so a click on a feature never waits for ten plot widgets; the spectrogram arrives
later (decoded off the UI thread) and is drawn as one indexed image.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from pyqtgraph import arrayToQPath
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.theme import ACCENT

STRIP_HEIGHT = 84  # spectrogram 52 px over a 32 px activation lane
SPECTRUM_SHARE = 0.62
FLOOR_DB = -80.0


@lru_cache(maxsize=1)
def _inferno() -> list[int]:
    """The 256-entry inferno colour table (as the arrangement's spectrogram uses)."""
    import pyqtgraph as pg

    table = pg.colormap.get("inferno").getLookupTable(nPts=256, mode="byte", alpha=False)
    return [QColor(int(r), int(g), int(b)).rgb() for r, g, b in table]


def spectrogram_image(db: np.ndarray, floor_db: float = FLOOR_DB) -> QImage:
    """(frames, bins) dB -> an indexed image, low frequencies at the bottom."""
    levels = np.clip((db.T[::-1] - floor_db) / -floor_db, 0.0, 1.0)
    pixels = np.ascontiguousarray((levels * 255).astype(np.uint8))
    height, width = pixels.shape
    image = QImage(pixels.data, width, height, width, QImage.Format_Indexed8).copy()
    image.setColorTable(_inferno())
    return image


class ClipStrip(QWidget):
    """Spectrogram (top) and activation timeline (bottom) on one time axis, plus a playhead."""

    def __init__(self, clip, parent=None) -> None:
        super().__init__(parent)
        self.setFixedHeight(STRIP_HEIGHT)
        self.setToolTip(
            "Top: the clip's spectrogram (low notes at the bottom). Bottom: how strongly the "
            "feature fires over the clip; the light band is its strongest window."
        )
        self.set_clip(clip)

    def set_clip(self, clip) -> None:
        """Show another clip (rows are reused from click to click)."""
        self.seconds = max(float(clip.clip_seconds), 1e-6)
        self.timeline = np.asarray(clip.timeline, dtype=np.float32)
        self.times = np.arange(self.timeline.size) / max(float(clip.frame_rate), 1e-9)
        self.window = tuple(clip.best_window)
        self.image: QImage | None = None
        self.note = "decoding…" if getattr(clip, "snippet_path", None) else "no cached snippet"
        self.playhead: float | None = None
        self._picture: QPixmap | None = None  # everything but the playhead, at this size
        self.update()

    def set_spectrogram(self, spectrogram) -> None:
        self.image = None if spectrogram is None else spectrogram_image(spectrogram.db)
        self.note = "" if spectrogram is not None else "snippet unreadable"
        self._picture = None
        self.update()

    def set_playhead(self, seconds: float | None) -> None:
        self.playhead = seconds
        self.update()

    def _x(self, seconds: float) -> float:
        return seconds / self.seconds * self.width()

    def _render(self, w: int, h: int) -> QPixmap:
        """Spectrogram, strongest window and activation lane: drawn once per size/image, so
        repaints (the playhead moves 30 times a second) only blit it."""
        pixmap = QPixmap(max(w, 1), max(h, 1))
        pixmap.fill(QColor(20, 20, 24))
        painter = QPainter(pixmap)
        top = h * SPECTRUM_SHARE
        if self.image is not None:
            painter.drawImage(QRectF(0, 0, w, top), self.image)
        elif self.note:
            painter.setPen(QColor(150, 150, 150))
            painter.drawText(QRectF(0, 0, w, top), Qt.AlignCenter, self.note)
        start, end = self.window
        if end > start:
            painter.fillRect(
                QRectF(self._x(start), top, self._x(end) - self._x(start), h - top),
                QColor(255, 255, 255, 30),
            )
        peak = float(self.timeline.max()) if self.timeline.size else 0.0
        if peak > 0:
            x = (self.times / self.seconds * w).astype(np.float64)
            y = (h - 1 - (h - top - 3) * self.timeline / peak).astype(np.float64)
            path = arrayToQPath(x, y, connect="all")
            painter.setPen(QPen(QColor(ACCENT), 1.5))  # a line only: filling costs ~4 ms
            painter.drawPath(path)
        painter.end()
        return pixmap

    def paintEvent(self, _event) -> None:
        w, h = self.width(), self.height()
        if self._picture is None or self._picture.size() != QSize(w, h):
            self._picture = self._render(w, h)
        painter = QPainter(self)
        painter.drawPixmap(0, 0, self._picture)
        if self.playhead is not None:
            painter.setPen(QPen(QColor(255, 255, 255), 2))
            x = self._x(self.playhead)
            painter.drawLine(QPointF(x, 0), QPointF(x, h))
        painter.end()


class ClipRow(QWidget):
    """A playable top clip, numbered by its place in the ranking (#1 = the best clip)."""

    playClicked = Signal(object)  # ClipView

    def __init__(self, view, parent=None) -> None:
        super().__init__(parent)
        self.play = QPushButton("▶")
        self.play.setFixedWidth(32)
        self.play.clicked.connect(lambda: self.playClicked.emit(self.view))
        self.info = QLabel()
        self.strip = ClipStrip(view.clip)
        top = QHBoxLayout()
        top.addWidget(self.play)
        top.addWidget(self.info, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 2, 0, 4)
        layout.setSpacing(2)
        layout.addLayout(top)
        layout.addWidget(self.strip)
        self.set_view(view)

    def set_view(self, view) -> None:
        """Show ``view`` in this row (its audio may still be decoding)."""
        clip, self.view = view.clip, view
        self.play.setText("▶")
        self.play.setEnabled(view.has_snippet)
        self.play.setToolTip("Play this clip" if view.has_snippet else "No cached snippet")
        name = clip.source_path.rsplit("/", 1)[-1]
        self.info.setText(
            f"#{view.position}  {name} @ {clip.clip_start:.1f} s   mean {clip.mean_activation:.2f}"
            f"   peak {clip.peak_activation:.2f}"
        )
        self.info.setToolTip(
            f"Rank {view.position} of this feature's top clips. mean / peak: the feature's "
            "average and largest activation over the clip."
        )
        self.strip.set_clip(clip)
        if view.spectrogram is not None:
            self.strip.set_spectrogram(view.spectrogram)

    def set_audio(self, view) -> None:
        """The decoded snippet arrived (from the clip-audio worker)."""
        self.view = view
        self.play.setEnabled(view.playable)
        self.strip.set_spectrogram(view.spectrogram)

    def set_playing(self, seconds: float | None) -> None:
        """Show (or hide, with None) this clip's own playhead."""
        self.play.setText("■" if seconds is not None else "▶")
        self.strip.set_playhead(seconds)
