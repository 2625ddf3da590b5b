"""A project on disk: model, SAE, feature DB, mixer, master and takes, as versioned JSON.

Paths are stored relative to the project file so a project folder can be moved or shared.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from musae_core.errors import MusaeError
from musae_core.fileio import write_json_atomic
from musae_core.workstation.master import MasterSettings
from musae_core.workstation.midi_map import Mappings, mappings_from_section, mappings_to_section
from musae_core.workstation.mixer import MixerState
from musae_core.workstation.takes import TakeRecord

FORMAT = "musae-project"
SCHEMA_VERSION = 1
SUFFIX = ".musae.json"


def _rel(path: str | None, base: Path) -> str | None:
    if not path:
        return None
    try:
        return os.path.relpath(Path(path).resolve(), base.resolve())
    except ValueError:  # another drive on Windows
        return str(Path(path).resolve())


def _abs(path: str | None, base: Path) -> str | None:
    if not path:
        return None
    p = Path(path)
    return str(p if p.is_absolute() else (base / p).resolve())


@dataclass
class Project:
    """Everything that reopens a session; ``path`` is where it was last saved (not stored)."""

    model_id: str | None = "tiny"
    sae_path: str | None = None
    feature_db_path: str | None = None
    mixer: MixerState = field(default_factory=MixerState)
    master: MasterSettings = field(default_factory=MasterSettings)
    takes: list[TakeRecord] = field(default_factory=list)
    midi: Mappings = ()  # MIDI learn bindings (hardware control -> knob)
    path: Path | None = None

    @property
    def takes_dir(self) -> Path | None:
        if self.path is None:
            return None
        return self.path.parent / (self.path.name.removesuffix(SUFFIX) + "_takes")

    def to_dict(self, base: Path) -> dict:
        takes = []
        for take in self.takes:
            entry = take.to_entry()
            entry["files"] = {k: _rel(v, base) for k, v in take.files.items()}
            takes.append(entry)
        return {
            "format": FORMAT,
            "version": SCHEMA_VERSION,
            "model_id": self.model_id,
            "sae_path": _rel(self.sae_path, base),
            "feature_db_path": _rel(self.feature_db_path, base),
            "mixer": self.mixer.to_dict(),
            "master": self.master.to_dict(),
            "takes": takes,
            "midi": mappings_to_section(self.midi),
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the project file atomically; take audio must already be on disk (see Session)."""
        path = Path(path)
        if not path.name.endswith(SUFFIX):
            path = path.with_name(path.name.removesuffix(".json") + SUFFIX)
        write_json_atomic(path, self.to_dict(path.parent))
        self.path = path
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Project:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise MusaeError(
                f"Cannot read project {path}: {exc}.", "pick a .musae.json file."
            ) from exc
        if data.get("format") != FORMAT:
            raise MusaeError(f"{path} is not a musae project.", "pick a .musae.json file.")
        if int(data.get("version", 0)) > SCHEMA_VERSION:
            raise MusaeError(
                f"{path} was written by a newer musae (project version {data['version']}).",
                "update musae to open it.",
            )
        base = path.parent
        takes = []
        for entry in data.get("takes", []):
            take = TakeRecord.from_entry(entry)
            take.files = {k: _abs(v, base) for k, v in take.files.items()}
            takes.append(take)
        return cls(
            model_id=data.get("model_id"),
            sae_path=_abs(data.get("sae_path"), base),
            feature_db_path=_abs(data.get("feature_db_path"), base),
            mixer=MixerState.from_dict(data.get("mixer", {})),
            master=MasterSettings.from_dict(data.get("master", {})),
            takes=takes,
            midi=mappings_from_section(data.get("midi")),
            path=path,
        )
