"""Audio output: an allocation-free callback over two preloaded takes (A/B), or a silent clock.

``PlaybackCore`` is the callback body, plain numpy and testable without a sound card; the
``AudioOutput`` drives it from a sounddevice stream, or from a timer when there is no device.
While a render streams, the core plays a ``StreamFeed`` instead (both A and B) and waits in
place, silent, when it catches up with the render; the finished take then replaces it at the
same position.
"""

from __future__ import annotations

import logging
import time

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, Signal

from app.stream_feed import StreamFeed

log = logging.getLogger(__name__)
NO_DEVICE = "No audio output device: playback is silent; export still works."


class PlaybackCore:
    """Two mono buffers (A = unsteered, B = steered) with gains, a position and a loop.

    Swapping A/B keeps the position, so the comparison is at the same moment of the music.
    """

    def __init__(self) -> None:
        self.buffers: tuple[np.ndarray, np.ndarray] = (np.zeros(1, np.float32),) * 2
        self.gains = (1.0, 1.0)
        self.which = 1
        self.position = 0
        self.playing = False
        self.loop: tuple[int, int] | None = None
        self.sample_rate = 32000
        self.stream: StreamFeed | None = None

    def load(self, a: np.ndarray, b: np.ndarray, gains: tuple[float, float], rate: int) -> None:
        """Swap in a take; a streamed version of it is dropped only after the swap (seamless)."""
        a = np.ascontiguousarray(np.asarray(a, np.float32).reshape(-1, a.shape[-1]).mean(0))
        b = np.ascontiguousarray(np.asarray(b, np.float32).reshape(-1, b.shape[-1]).mean(0))
        self.buffers, self.gains, self.sample_rate = (a, b), gains, rate
        self.stream = None
        self.position = min(self.position, len(b))

    def start_stream(self, feed: StreamFeed) -> None:
        """Play ``feed`` from its start as chunks arrive."""
        self.sample_rate, self.position = feed.sample_rate, 0
        self.stream = feed

    @property
    def length(self) -> int:
        stream = self.stream
        return stream.total if stream is not None else len(self.buffers[self.which])

    @property
    def available(self) -> int:
        """Samples that can be played now (grows while a render streams)."""
        stream = self.stream
        return stream.available if stream is not None else len(self.buffers[self.which])

    def fill(self, out: np.ndarray) -> None:
        """Write the next ``len(out)`` frames into ``out`` (frames, channels); the callback body."""
        frames = out.shape[0]
        out.fill(0.0)
        if not self.playing:
            return
        stream = self.stream
        if stream is not None:  # flag, then count, then data: the worker writes in reverse order
            waiting = not stream.complete
            limit, src, gain = stream.available, stream.data, 1.0
        else:
            src, gain = self.buffers[self.which], self.gains[self.which]
            limit, waiting = len(src), False
        written = 0
        while written < frames:
            end = self.loop[1] if self.loop else len(src)
            end = min(end, limit)
            n = min(frames - written, end - self.position)
            if n <= 0:
                if waiting and end == limit:
                    return  # the render has not got this far yet: silence, position held
                if self.loop and self.loop[1] > self.loop[0]:
                    self.position = self.loop[0]
                    continue
                self.playing = False
                self.position = 0
                return
            for ch in range(out.shape[1]):
                np.multiply(
                    src[self.position : self.position + n], gain, out=out[written : written + n, ch]
                )
            written += n
            self.position += n


class AudioOutput(QObject):
    """Plays a ``PlaybackCore`` on the chosen device; says clearly when there is none.

    The device stream exists only while something plays: PortAudio's callback thread polls
    even when it only writes silence (~50 % of a core on a null ALSA device, issue 18), so the
    stream is stopped when playback ends (from the callback) or is stopped.
    """

    stateChanged = Signal()
    _streamFinished = Signal(object)  # from PortAudio's thread: close that stream on ours

    def __init__(self, device: str = "", parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.core = PlaybackCore()
        self.device = device or None
        self._stream = None
        self.available, self.reason = self._probe()
        self._clock = QTimer(self)
        self._clock.setInterval(20)
        self._clock.timeout.connect(self._tick_silent)
        self._last_tick = 0.0
        self._scratch = np.zeros((4096, 1), np.float32)
        self._streamFinished.connect(self._finished, Qt.QueuedConnection)

    def _probe(self) -> tuple[bool, str]:
        try:
            import sounddevice as sd

            sd.query_devices(self.device, "output")
            return True, ""
        except Exception as exc:  # OSError (no PortAudio) or ValueError (no output device)
            log.info("no audio output: %s", exc)
            return False, NO_DEVICE

    def device_name(self) -> str:
        """What Settings shows: the device's name, or that there is none."""
        if not self.available:
            return "No output device"
        try:
            import sounddevice as sd

            return str(sd.query_devices(self.device, "output")["name"])
        except Exception:
            return "No output device"

    @property
    def playing(self) -> bool:
        return self.core.playing

    @property
    def stream_open(self) -> bool:
        """Whether a device stream (and its callback thread) exists now."""
        return self._stream is not None

    def latency_seconds(self) -> float:
        stream = self._stream
        return float(stream.latency) if stream is not None and self.available else 0.0

    def position_seconds(self) -> float:
        """Playhead: samples handed to the device minus the output latency."""
        seconds = self.core.position / max(self.core.sample_rate, 1) - self.latency_seconds()
        return max(0.0, seconds)

    def seek(self, seconds: float) -> None:
        self.core.position = int(max(0.0, seconds) * self.core.sample_rate)

    def play(self) -> None:
        if self.core.length <= 1 and self.core.stream is None:
            return
        self.core.playing = True
        if self.available:
            self._open_stream()
        else:
            self._last_tick = time.monotonic()
            self._clock.start()
        self.stateChanged.emit()

    def stop(self) -> None:
        self.core.playing = False
        self._clock.stop()
        self.close()
        self.stateChanged.emit()

    def _open_stream(self) -> None:
        stream = self._stream
        if stream is not None and stream.active and stream.samplerate == self.core.sample_rate:
            return
        self.close()
        try:
            import sounddevice as sd

            made: list = []  # the finished callback names its own stream, not a newer one

            def finished() -> None:  # PortAudio's thread; cffi wants None back
                self._streamFinished.emit(made[0] if made else None)

            self._stream = sd.OutputStream(
                samplerate=self.core.sample_rate,
                channels=1,
                dtype="float32",
                device=self.device,
                callback=self._callback,
                finished_callback=finished,
            )
            made.append(self._stream)
            self._stream.start()
        except Exception as exc:
            log.warning("cannot open audio output: %s", exc)
            self._stream = None
            self.available, self.reason = False, f"Audio output failed ({exc}); playing silently."
            self._last_tick = time.monotonic()
            self._clock.start()

    def _callback(self, outdata, frames, time_info, status) -> None:
        self.core.fill(outdata)
        if not self.core.playing:  # the take (or the stop) ended: let PortAudio's thread go
            import sounddevice as sd

            raise sd.CallbackStop

    def _finished(self, stream) -> None:
        """The stream ended on PortAudio's thread (take over or stopped): close it here."""
        if stream is not None and stream is self._stream and not self.core.playing:
            self.close()
            self.stateChanged.emit()

    def _tick_silent(self) -> None:
        """No device: advance the same core by wall-clock time so the playhead moves."""
        now = time.monotonic()
        frames = int((now - self._last_tick) * self.core.sample_rate)
        self._last_tick = now
        while frames > 0 and self.core.playing:
            n = min(frames, len(self._scratch))
            self.core.fill(self._scratch[:n])
            frames -= n
        if not self.core.playing:
            self.stop()

    def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.abort()
                stream.close()
            except Exception as exc:
                log.warning("closing audio stream: %s", exc)
