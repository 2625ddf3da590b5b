"""MIDI input ports through mido's python-rtmidi backend (the optional ``midi`` extra).

The app runs without it: ``input_ports`` then says why there are no ports, in words. Opened
ports call back on rtmidi's own thread, so the callback must only hand the event over.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

from musae_core.workstation.midi_map import MidiEvent, event_from_mido

log = logging.getLogger(__name__)

ALSA_SEQUENCER = "/dev/snd/seq"
NO_BACKEND = "python-rtmidi is not installed: pip install 'musae[midi]' to use MIDI controllers."


def input_ports() -> tuple[list[str], str | None]:
    """The MIDI input port names, and why there are none when that is so."""
    try:
        import rtmidi  # noqa: F401  (mido's default backend)
    except ImportError:
        return [], NO_BACKEND
    if sys.platform.startswith("linux") and not os.path.exists(ALSA_SEQUENCER):
        # asking rtmidi would only make ALSA print "cannot open /dev/snd/seq" on every start
        return [], f"MIDI is unavailable on this system: no ALSA sequencer ({ALSA_SEQUENCER})."
    try:
        import mido

        names = list(mido.get_input_names())
    except Exception as exc:  # e.g. no ALSA sequencer (/dev/snd/seq) in a container
        return [], f"MIDI is unavailable on this system: {exc}"
    if not names:
        return [], "No MIDI input ports: connect a controller, then reopen this page."
    return names, None


class MidiInputs:
    """The open input ports; ``on_event`` gets each knob-like message from any port's thread."""

    def __init__(self, on_event: Callable[[MidiEvent], None]) -> None:
        self.on_event = on_event
        self.ports: list[Any] = []  # mido input ports

    def open(self, wanted: str = "") -> str | None:
        """Open ``wanted`` ("" = every input port); returns why nothing opened, or None."""
        self.close()
        names, reason = input_ports()
        if reason:
            return reason
        if wanted:
            if wanted not in names:
                return f"MIDI input {wanted!r} is not connected; pick another in Settings > MIDI."
            names = [wanted]
        import mido

        for name in names:
            try:
                self.ports.append(mido.open_input(name, callback=self._callback(name)))
            except Exception as exc:  # a busy or vanished port: skip it, keep the others
                log.warning("cannot open MIDI input %s: %s", name, exc)
        return None if self.ports else "No MIDI input port could be opened."

    def _callback(self, name: str) -> Callable[[Any], None]:
        def receive(message: Any) -> None:
            event = event_from_mido(message, name)
            if event is not None:
                self.on_event(event)

        return receive

    def close(self) -> None:
        for port in self.ports:
            with contextlib.suppress(Exception):  # closing a vanished port
                port.close()
        self.ports = []
