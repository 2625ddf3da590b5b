"""The scripted newcomer walk (scripts/walk.py) on the real app in a real X window.

Needs an X window and minutes, so deselected by default: ``pytest -m xwindow
tests/test_app_walk.py`` or ``make walk``. ``MUSAE_WALK_MAX_RENDER`` relaxes the render target
on a shared, loaded box.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.xwindow
def test_newcomer_walk(tmp_path):
    if not (os.environ.get("DISPLAY") or shutil.which("xvfb-run")):
        pytest.skip("needs an X display or xvfb-run (apt-get install xvfb xauth)")
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    env.update(PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1")
    limit = os.environ.get("MUSAE_WALK_MAX_RENDER", "10")
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "walk.py"),
            "--shots",
            str(tmp_path / "shots"),
            "--home",
            str(tmp_path / "home"),
            "--max-render",
            limit,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    report = out.stdout[-4000:] + out.stderr[-2000:]
    assert out.returncode == 0, report
    assert len(list((tmp_path / "shots").glob("walk-*.png"))) >= 6, report
