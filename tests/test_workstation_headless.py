"""The workstation API the GUI uses imports and works with every Qt binding blocked."""

from __future__ import annotations

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {'PySide6', 'PyQt5', 'PyQt6', 'pyqtgraph', 'sounddevice', 'app'}:
            raise ImportError(name + ' is blocked')
sys.meta_path.insert(0, Block())
from musae_core.workstation import History, MixerState, Session, spectrogram
import numpy as np
h = History(MixerState().add(1))
h.apply(h.state.update(1, strength=1.0))
assert h.undo() and Session().steering_unavailable()
assert spectrogram(np.zeros(4000, np.float32), 16000).db.ndim == 2
print('ok')
"""


def test_workstation_runs_without_qt():
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
