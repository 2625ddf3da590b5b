"""Atomic file writes: a crash or a full disk never leaves a half-written file behind.

The temporary file is created with the mode a plain ``open(target, "w")`` would give (0666
minus the umask), or keeps the mode of the file it replaces, so an exported take or a
store.json stays readable by the programs and users the umask allows (``mkstemp`` would leave
every such file 0600).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from musae_core.errors import MusaeError


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it over ``target`` only on success."""
    target = Path(target)
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise MusaeError(
            f"Cannot write {target}: folder {parent} does not exist.",
            "create the folder or choose another output path.",
        )
    if not os.access(parent, os.W_OK):
        raise MusaeError(
            f"Cannot write {target}: folder {parent} is not writable.",
            "choose an output path in a folder you can write to.",
        )
    tmp = _create_temp_beside(target, parent)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _create_temp_beside(target: Path, parent: Path) -> Path:
    """An empty, uniquely named file in ``parent``; the kernel applies the umask to 0666."""
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
    except OSError:
        mode = None  # a new file: 0666 minus the umask, like open(target, "w")
    for _ in range(100):
        tmp = parent / f".{target.name}.{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        if mode is not None:
            os.chmod(tmp, mode)
        return tmp
    raise MusaeError(
        f"Cannot create a temporary file beside {target}.",
        f"remove stale .{target.name}.*.tmp files from {parent}.",
    )


def write_json_atomic(target: str | os.PathLike[str], payload: Any) -> None:
    """Write ``payload`` as pretty JSON through a temporary file."""
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")
