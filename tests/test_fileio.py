"""Atomic writes keep the permissions a plain write would give (issue 20, item 10)."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from musae_core.audio.io import write_take_files
from musae_core.fileio import atomic_path, write_json_atomic


@pytest.fixture
def umask():
    """Set the process umask for one test and restore it afterwards."""
    old = os.umask(0o022)
    try:
        yield lambda value: os.umask(value)
    finally:
        os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_exported_take_and_json_follow_the_umask(tmp_path, umask):
    umask(0o022)
    wav, sidecar = write_take_files(tmp_path / "take.wav", np.zeros(800), 8000, {"seed": 1})
    write_json_atomic(tmp_path / "store.json", {"format": "musae-activations"})
    assert mode(wav) == mode(sidecar) == mode(tmp_path / "store.json") == 0o644
    umask(0o077)
    write_json_atomic(tmp_path / "private.json", {})
    assert mode(tmp_path / "private.json") == 0o600
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_rewriting_a_file_keeps_its_mode_and_failed_writes_leave_nothing(tmp_path, umask):
    umask(0o022)
    target = tmp_path / "cfg.json"
    write_json_atomic(target, {"a": 1})
    os.chmod(target, 0o640)
    write_json_atomic(target, {"a": 2})
    assert mode(target) == 0o640 and '"a": 2' in target.read_text()
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash")
    assert '"a": 2' in target.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cfg.json"]
