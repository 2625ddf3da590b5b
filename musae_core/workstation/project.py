"""A project on disk: model, SAE, feature DB, mixer, master and takes, as versioned JSON.

Paths inside the project's folder are stored relative to the project file, so the folder can be
moved or shared; paths outside it stay absolute, so they still resolve after such a move.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from musae_core.errors import MusaeError
from musae_core.fileio import write_json_atomic
from musae_core.workstation.master import MasterSettings
from musae_core.workstation.midi_map import Mappings, mappings_from_section, mappings_to_section
from musae_core.workstation.mixer import MixerState
from musae_core.workstation.project_check import check_project_data, field_error
from musae_core.workstation.takes import TakeRecord
from musae_core.workstation.transport import TransportPrefs

T = TypeVar("T")

FORMAT = "musae-project"
SCHEMA_VERSION = 1
SUFFIX = ".musae.json"


def _rel(path: str | None, base: Path) -> str | None:
    """Relative to ``base`` when inside it (travels with the folder), else absolute."""
    if not path:
        return None
    target, base = Path(path).resolve(), base.resolve()
    if target.is_relative_to(base):
        return target.relative_to(base).as_posix()
    return str(target)


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
    transport: TransportPrefs = field(default_factory=TransportPrefs)
    midi: Mappings = ()  # MIDI learn bindings (hardware control -> knob)
    path: Path | None = None

    @property
    def takes_dir(self) -> Path | None:
        if self.path is None:
            return None
        return self.path.parent / (self.path.name.removesuffix(SUFFIX) + "_takes")

    def to_dict(self, base: Path) -> dict[str, Any]:
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
            "transport": self.transport.to_dict(),
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
        data = _read_json(path)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise MusaeError(
                f'{path.name} is not a musae project (no "format": "{FORMAT}").',
                "pick a .musae.json project with File > Open project.",
            )
        version = data.get("version", 0)
        if not isinstance(version, int) or isinstance(version, bool):
            raise field_error(path, "version", f"is {version!r}, but must be a whole number")
        check_project_data(path, data)
        if version > SCHEMA_VERSION:
            raise MusaeError(
                f"{path} was written by a newer musae (project version {data['version']}).",
                "update musae to open it.",
            )
        base = path.parent
        takes = []
        for i, entry in enumerate(data.get("takes", [])):
            take = _built(path, f"takes[{i}]", TakeRecord.from_entry, entry)
            files = {k: _abs(v, base) for k, v in take.files.items()}
            take.files = {k: v for k, v in files.items() if v is not None}  # "": no file
            takes.append(take)
        return cls(
            model_id=data.get("model_id"),
            sae_path=_abs(data.get("sae_path"), base),
            feature_db_path=_abs(data.get("feature_db_path"), base),
            mixer=_built(path, "mixer", MixerState.from_dict, data.get("mixer", {})),
            master=_built(path, "master", MasterSettings.from_dict, data.get("master", {})),
            takes=takes,
            transport=TransportPrefs.from_dict(data.get("transport")),
            midi=mappings_from_section(data.get("midi")),
            path=path,
        )


def _read_json(path: Path) -> Any:
    """The parsed file, or an error that says what is wrong with *this* file and what to do."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MusaeError(
            f"Cannot read project {path}: {exc.strerror or exc}.",
            "check that the file exists and that you may read it, then open it again.",
        ) from exc
    except UnicodeDecodeError as exc:
        raise MusaeError(
            f"{path.name} is not a musae project (it is not text).",
            "pick a .musae.json project with File > Open project.",
        ) from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        cut = not text.rstrip().endswith("}")  # a whole project always ends its object
        what = "ends too early (the file is cut off)" if cut else f"is damaged ({exc.msg})"
        raise MusaeError(
            f"Project {path.name} {what} at line {exc.lineno}, column {exc.colno}.",
            f"open an earlier copy or backup of {path.name}, or repair the JSON in a text "
            "editor; your other projects are not affected.",
        ) from exc


def _built(path: Path, where: str, build: Callable[[Any], T], data: Any) -> T:
    """``build(data)``, with any value error reported under the project file and field."""
    try:
        return build(data)
    except MusaeError as exc:
        raise field_error(path, where, f"is not valid: {exc.problem.rstrip('.')}") from exc
    except (TypeError, ValueError, KeyError) as exc:
        raise field_error(path, where, f"is not valid: {exc}") from exc
