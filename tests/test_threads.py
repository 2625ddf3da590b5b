"""The CPU threading policy: passive waiting, threads for the free cores and the model size,
overrides; the entry points apply it before torch is imported (issue 18, section 1)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from musae_core import threads

ROOT = Path(__file__).resolve().parents[1]
CLEARED = threads.THREAD_ENV  # the variables a clean child process must not inherit


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    env.update(PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", **extra)
    return env


def test_choose_threads_for_free_cores_and_model_size():
    assert threads.choose_threads(2, busy_elsewhere=0.0) == 2
    assert threads.choose_threads(2, busy_elsewhere=1.0) == 2  # passive: a 2nd thread is cheap
    assert threads.choose_threads(1, busy_elsewhere=0.5) == 1  # never more than the cores
    assert threads.choose_threads(8, busy_elsewhere=3.0) == 5  # leaves the busy cores alone
    assert threads.choose_threads(8, busy_elsewhere=7.6) == 2  # but keeps its share
    assert threads.choose_threads(8, busy_elsewhere=0.0, ranks=4) == 2  # torchrun ranks share
    assert threads.choose_threads(16, 0.0, ranks=16) == 1
    assert threads.choose_threads(8, 0.0, params=5_000_000) == 2  # the demo model
    assert threads.choose_threads(8, 0.0, params=400_000_000) == 8  # musicgen-small


def test_override_order_env_then_setting_then_omp(monkeypatch):
    for name in CLEARED:
        monkeypatch.delenv(name, raising=False)
    assert threads.override_threads() is None
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads.override_threads() == 3
    assert threads.override_threads(setting=2) == 2
    monkeypatch.setenv("MUSAE_THREADS", "5")
    assert threads.override_threads(setting=2) == 5
    monkeypatch.setenv("MUSAE_THREADS", "many")  # ignored with a warning, not a crash
    assert threads.override_threads(setting=2) == 2


def test_busy_process_is_counted_as_a_taken_core():
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        before = threads.snapshot()
        time.sleep(0.6)
        busy = threads.others_busy_cores(before, threads.snapshot())
    finally:
        hog.kill()
        hog.wait()
    if before is None:
        pytest.skip("no /proc/stat on this platform")
    assert busy >= 0.6  # the hog alone keeps ~1 core busy; other processes only add


def test_prepare_before_torch_sets_passive_wait_and_model_threads():
    code = (
        "from musae_core import threads; threads.prepare(); import os, torch;"
        "n = threads.apply(5_000_000); want = min(2, threads.usable_cores());"
        "print(os.environ['OMP_WAIT_POLICY'], n == want, torch.get_num_threads() == want,"
        " torch.get_num_interop_threads())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=_env(), capture_output=True, text=True, timeout=120
    )
    assert out.stdout.split() == ["PASSIVE", "True", "True", "1"], out.stderr
    forced_code = code.replace("want = min(2, threads.usable_cores())", "want = 3")
    forced = subprocess.run(
        [sys.executable, "-c", forced_code],
        env=_env(MUSAE_THREADS="3"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert forced.stdout.split()[1:3] == ["True", "True"], forced.stderr


def test_prepare_after_torch_changes_nothing():
    import torch

    before = torch.get_num_threads()
    threads.prepare()  # torch is imported in this test process: the policy stays off
    assert threads.apply(5_000_000) is None
    assert torch.get_num_threads() == before


def test_cli_entry_point_applies_policy(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "musae_core.cli",
            "-v",
            "generate",
            "--model",
            "tiny",
            "--device",
            "cpu",
            "--duration",
            "0.2",
            "--out",
            str(tmp_path / "t.wav"),
        ],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    want = min(2, threads.usable_cores())  # the tiny model: at most two threads
    assert f"threads: {want} (cores" in out.stderr
