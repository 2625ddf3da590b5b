"""The project-file half of the session: saving a self-contained folder, and opening what a
project names (feature DB, model, SAE, takes) phase by phase with progress and a log line each.

A mixin of ``Session`` (``session.py``), which owns the state these methods read and write.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from musae_core.errors import MusaeError
from musae_core.jobs import CancelToken, ProgressFn, check

if TYPE_CHECKING:
    from musae_core.workstation.project import Project
    from musae_core.workstation.takes import TakeRecord

log = logging.getLogger("musae_core.workstation.session")


class ProjectFiles:
    """Save and open the session's project (methods of ``Session``)."""

    if TYPE_CHECKING:  # what this mixin uses of ``Session``
        project: Project
        db_warning: str | None

        def open_feature_db(self, path: str | os.PathLike[str]) -> Any: ...
        def load_model(
            self, model_id: str | None = None, cancel: CancelToken | None = None
        ) -> Any: ...
        def load_sae(self, path: str | os.PathLike[str]) -> Any: ...
        def export(
            self, take: TakeRecord, path: str | os.PathLike[str], which: str = "steered"
        ) -> Any: ...

    def save_project(
        self, path: str | os.PathLike[str] | None = None, copy_resources: bool = False
    ) -> Path:
        """Save a self-contained project folder: takes (WAV + sidecar + lanes) into its takes
        folder, the SAE and feature DB copied in when ``copy_resources``, then the project file.
        """
        from musae_core.workstation import portable

        target = Path(path) if path is not None else self.project.path
        if target is None:
            raise MusaeError("The project has never been saved.", "use File > Save As.")
        self.project.path = Path(target)
        portable.gather_takes(self.project, self.export)
        if copy_resources:
            portable.copy_resources(self.project)
        return self.project.save(target)

    def open_resources(
        self,
        cancel: CancelToken | None = None,
        progress: ProgressFn | None = None,
        feature_db: bool = True,
    ) -> list[str]:
        """Load what the project names (DB, model, SAE, take audio and lanes); returns warnings.

        Reports one progress step per phase and logs each phase's seconds, so a slow start can
        be read from the log. ``feature_db=False`` when the caller opens the DB on its own.
        """
        project, warnings = self.project, list[str]()
        phases: list[tuple[str, object, Callable[[], object]]] = [
            ("feature database", feature_db and project.feature_db_path,
             lambda: self.open_feature_db(project.feature_db_path or "")),
            ("model", project.model_id, lambda: self.load_model(project.model_id, cancel)),
            ("SAE", project.sae_path, lambda: self._load_project_sae(warnings)),
            ("takes", project.takes, lambda: warnings.extend(self._load_takes())),
        ]  # fmt: skip
        steps = [(name, run) for name, wanted, run in phases if wanted]
        for done, (name, run) in enumerate(steps):
            if progress is not None:
                progress(done, len(steps))
            started = time.perf_counter()
            run()
            check(cancel)
            log.info("opened %s: %s in %.2f s", project.path, name, time.perf_counter() - started)
        if progress is not None:
            progress(len(steps), len(steps))
        if self.db_warning:
            warnings.append(self.db_warning)
        return warnings

    def _load_project_sae(self, warnings: list[str]) -> None:
        """The project still opens when its SAE belongs to another DB: browse it, fix the pair."""
        from musae_core.features.sae_match import SaeMismatch

        try:
            self.load_sae(self.project.sae_path or "")
        except SaeMismatch as exc:
            warnings.append(f"SAE not loaded: {exc.one_line()}")

    def _load_takes(self) -> list[str]:
        warnings = []
        for take in self.project.takes:
            try:
                take.load_audio()
            except Exception as exc:  # a missing take file should not block the project
                warnings.append(f"take {take.take_id}: {exc}")
        return warnings
