"""The engine is Qt-free: it imports and runs with every Qt binding made unimportable."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

BLOCKER = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {'PySide6', 'PyQt5', 'PyQt6', 'pyqtgraph', 'sounddevice', 'app'}:
            raise ImportError(f'{name} is blocked: the engine must not import it')
sys.meta_path.insert(0, Block())
import pkgutil, importlib, musae_core
for info in pkgutil.walk_packages(musae_core.__path__, 'musae_core.'):
    importlib.import_module(info.name)
print('ok', len(sys.modules))
"""


@pytest.mark.slow
def test_every_engine_module_imports_without_qt():
    result = subprocess.run(
        [sys.executable, "-c", BLOCKER], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok")


def test_no_qt_import_statements_in_engine():
    offenders = [
        str(path)
        for path in (ROOT / "musae_core").rglob("*.py")
        for line in path.read_text().splitlines()
        if line.strip().startswith(
            ("import PySide6", "from PySide6", "import pyqtgraph", "from app")
        )
    ]
    assert offenders == []
