"""The one shared view/transport state (Sonic Visualiser style): playhead, loop, A/B, zoom.

Panes listen to it instead of to each other, so waveform, spectrogram and lanes stay in step.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from app.playback import AudioOutput

PLAYHEAD_HZ = 30


class TransportState(QObject):
    playheadMoved = Signal(float)  # the arrangement's playhead (takes and streams only)
    clipPlayheadMoved = Signal(object, float)  # a top clip's own playhead: (clip key, seconds)
    loopChanged = Signal(object)  # (start, end) seconds or None
    abChanged = Signal(str)  # "steered" | "unsteered"
    playingChanged = Signal(bool)

    def __init__(self, output: AudioOutput, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.output = output
        self.ab = "steered"
        self.loop_region: tuple[float, float] | None = None
        self.loop_enabled = False
        self.playhead = 0.0
        self.source = "none"  # what the audio core holds: "take" | "stream" | "clip" | "none"
        self.take = None
        self.clip_key: object = None  # which top clip the core holds when source == "clip"
        self._timer = QTimer(self)
        self._timer.setInterval(int(1000 / PLAYHEAD_HZ))
        self._timer.timeout.connect(self._poll)
        output.stateChanged.connect(self._state)

    def load_take(self, take) -> None:
        """Hand both takes of a render to the audio core (position kept, so A/B lines up and
        a take that was streaming carries on from the same sample)."""
        if take is None or not take.loaded:
            return
        from_clip = self.source == "clip"
        self.output.core.load(take.unsteered, take.steered, take.gains, take.sample_rate)
        self.source, self.take = "take", take
        if from_clip:  # back where the arrangement's playhead was before the clip played
            self.output.seek(self.playhead)
        self._apply_loop()

    def start_stream(self, feed) -> None:
        """Play a render while it is still rendering: from the start, as chunks arrive."""
        self.output.core.start_stream(feed)
        self.source = "stream"
        self._apply_loop()
        self.output.play()

    def stop_stream(self, feed) -> None:
        """A cancelled or superseded stream: silence it, fall back to the last finished take."""
        feed.close()
        core = self.output.core
        if core.stream is not feed:
            return
        self.output.stop()
        core.stream, core.position = None, 0
        if self.take is not None and self.take.loaded:
            self.load_take(self.take)
        else:
            core.load(np.zeros(1, np.float32), np.zeros(1, np.float32), (1.0, 1.0), 32000)
            self.source = "none"
        self._poll()

    def play_from_start(self) -> None:
        """Render+Play without streaming: the finished take plays from its beginning."""
        if self.source != "take" and self.take is not None:
            self.load_take(self.take)
        self.output.seek(0.0)
        self.output.play()

    def load_clip(self, audio, sample_rate: int, key: object = None) -> None:
        """Audition a top clip; its progress goes to ``clipPlayheadMoved`` (with ``key``) and
        the arrangement's playhead stays where it was."""
        self.output.core.load(audio, audio, (1.0, 1.0), sample_rate)
        self.output.core.loop = None
        self.source, self.clip_key = "clip", key
        self.output.seek(0.0)

    def toggle_play(self) -> None:
        if self.output.playing:
            self.output.stop()
        else:
            if self.source == "clip" and self.take is not None:
                self.load_take(self.take)
            self.output.play()

    def set_ab(self, which: str) -> None:
        self.ab = which
        self.output.core.which = 1 if which == "steered" else 0
        self.abChanged.emit(which)

    def toggle_ab(self) -> None:
        self.set_ab("unsteered" if self.ab == "steered" else "steered")

    def set_loop_region(self, start: float, end: float) -> None:
        self.loop_region = (min(start, end), max(start, end))
        self._apply_loop()

    def set_loop_enabled(self, on: bool) -> None:
        self.loop_enabled = on
        self._apply_loop()

    def _apply_loop(self) -> None:
        rate = self.output.core.sample_rate
        if self.loop_enabled and self.loop_region:
            start, end = self.loop_region
            self.output.core.loop = (int(start * rate), int(end * rate))
        else:
            self.output.core.loop = None
        self.loopChanged.emit(self.loop_region if self.loop_enabled else None)

    def seek(self, seconds: float) -> None:
        self.output.seek(seconds)
        self._poll()

    def _state(self) -> None:
        playing = self.output.playing
        if playing:
            self._timer.start()
        else:
            self._timer.stop()
            self._poll()
        self.playingChanged.emit(playing)

    def _poll(self) -> None:
        if self.source == "clip":
            self.clipPlayheadMoved.emit(self.clip_key, self.output.position_seconds())
        else:
            self.playhead = self.output.position_seconds()
            self.playheadMoved.emit(self.playhead)
        if not self.output.playing and self._timer.isActive():
            self._state()
