"""Save As into a self-contained folder: every take (WAV, sidecar, activation lanes) is written
into the project's own takes folder, and the SAE and feature database are either copied in or
referenced, as the user chooses. Moving, zipping or sharing the folder then keeps it working.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

from musae_core.audio.io import sidecar_path
from musae_core.errors import MusaeError
from musae_core.features.db import snippet_dir_for
from musae_core.workstation.project import SUFFIX, Project
from musae_core.workstation.takes import LANES, SIDES, TakeRecord

log = logging.getLogger(__name__)
ExportFn = Callable[[TakeRecord, Path, str], tuple[Path, Path]]


def _same(a: str | Path, b: Path) -> bool:
    return Path(a).resolve() == b.resolve()


def gather_takes(project: Project, export: ExportFn) -> None:
    """Make every take's files live in ``project.takes_dir`` (written or copied there).

    Takes whose audio is loaded are (re)written by ``export`` so their sidecars describe the
    project as saved; takes whose audio could not be loaded are copied as they are.
    """
    folder = _beside(project, "_takes")  # == project.takes_dir
    for take in project.takes:
        for which in SIDES:
            dest = folder / f"take-{take.take_id}-{which}.wav"
            existing = take.files.get(which)
            if existing and _same(existing, dest) and dest.is_file():
                continue
            if take.loaded:
                folder.mkdir(parents=True, exist_ok=True)
                export(take, dest, which)
            elif existing and Path(existing).is_file():
                folder.mkdir(parents=True, exist_ok=True)
                shutil.copy2(existing, dest)
                if sidecar_path(Path(existing)).is_file():
                    shutil.copy2(sidecar_path(Path(existing)), sidecar_path(dest))
            else:
                continue
            take.files[which] = str(dest)
        _gather_lanes(take, folder / f"take-{take.take_id}-lanes.npz")


def _gather_lanes(take: TakeRecord, dest: Path) -> None:
    existing = take.files.get(LANES)
    if existing and _same(existing, dest) and dest.is_file():
        return
    if take.activations or take.unsteered_activations:
        dest.parent.mkdir(parents=True, exist_ok=True)
        take.save_lanes(dest)
    elif existing and Path(existing).is_file():
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(existing, dest)
    else:
        return
    take.files[LANES] = str(dest)


def _beside(project: Project, suffix: str) -> Path:
    """``NAME{suffix}`` beside the project file (it must have been given a path)."""
    if project.path is None:
        raise MusaeError("The project has never been saved.", "use File > Save As.")
    return project.path.parent / (project.path.name.removesuffix(SUFFIX) + suffix)


def resources_dir(project: Project) -> Path:
    """Where copied SAE and feature database go: ``NAME_resources/`` beside the project file."""
    return _beside(project, "_resources")


def copy_resources(project: Project) -> None:
    """Copy the SAE folder and the feature database (+ its snippets) into the project folder.

    Resources already inside the project's folder stay where they are. Copies are made under a
    temporary name and renamed, so an interrupted save leaves no half-copied resource in use.
    """
    base = _beside(project, "").parent.resolve()
    target = resources_dir(project)
    if project.sae_path and not Path(project.sae_path).resolve().is_relative_to(base):
        src = Path(project.sae_path)
        dest = target / src.name
        _replace_tree(src, dest)
        project.sae_path = str(dest)
    if project.feature_db_path and not Path(project.feature_db_path).resolve().is_relative_to(base):
        src = Path(project.feature_db_path)
        dest = target / src.name
        target.mkdir(parents=True, exist_ok=True)
        _copy_sqlite(src, dest)
        if snippet_dir_for(src).is_dir():
            _replace_tree(snippet_dir_for(src), snippet_dir_for(dest))
        project.feature_db_path = str(dest)
    log.info("copied the project's resources into %s", target)


def _replace_tree(src: Path, dest: Path) -> None:
    tmp = dest.with_name(f".{dest.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp)
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)


def _copy_sqlite(src: Path, dest: Path) -> None:
    """A consistent copy of a (WAL-mode, possibly open) SQLite file via the backup API."""
    tmp = dest.with_name(f".{dest.name}.tmp")
    tmp.unlink(missing_ok=True)
    source = sqlite3.connect(src.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        copy = sqlite3.connect(tmp)
        try:
            source.backup(copy)
        finally:
            copy.close()
    finally:
        source.close()
    tmp.replace(dest)
