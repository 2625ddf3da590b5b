"""Type checks for a project file, so a bad value is reported by file and field, not by the
``int()`` call that tripped over it later."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from musae_core.errors import MusaeError
from musae_core.models.sampling import SamplingSettings
from musae_core.workstation.master import MasterSettings

OPTIONAL_TEXT = (str, None)
TOP = {
    "model_id": OPTIONAL_TEXT,
    "sae_path": OPTIONAL_TEXT,
    "feature_db_path": OPTIONAL_TEXT,
    "mixer": dict,
    "master": dict,
    "takes": list,
}
MASTER = {
    f.name: type(f.default) for f in dataclasses.fields(MasterSettings) if f.name != "sampling"
} | {f.name: type(f.default) for f in dataclasses.fields(SamplingSettings)}  # stored flat
CHANNEL = {
    "feature": int,
    "strength": float,
    "mode": str,
    "mute": bool,
    "solo": bool,
    "envelope": list,
    "label": str,
}
TAKE = {
    "take_id": int,
    "master": dict,
    "mixer": dict,
    "sample_rate": int,
    "frame_rate": float,
    "gains": list,
    "render_seconds": float,
    "files": dict,
}
TAKE_REQUIRED = ("take_id", "master", "mixer", "sample_rate", "frame_rate")
NAMES = {
    int: "a whole number",
    float: "a number",
    bool: "true or false",
    str: "text",
    list: "a list",
    dict: "an object",
    None: "null",
}


def _fits(value: object, kind: Any) -> bool:
    if isinstance(kind, tuple):
        return any(_fits(value, k) for k in kind)
    if kind is None:
        return value is None
    if isinstance(value, bool):
        return kind is bool
    if kind is float:
        return isinstance(value, (int, float))
    return isinstance(value, kind)


def _describe(kind: Any) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(NAMES[k] for k in kinds)


def field_error(path: Path, where: str, problem: str) -> MusaeError:
    """The one wording for a bad field: file, field, and what to do in the app."""
    return MusaeError(
        f'Project {path.name}: field "{where}" {problem}.',
        f'correct "{where}" in {path} with a text editor (or use an earlier copy of the '
        "project), then open it again with File > Open project.",
    )


def _check(
    path: Path, data: object, where: str, schema: dict[str, Any], required: tuple[str, ...] = ()
) -> None:
    if not isinstance(data, dict):
        raise field_error(path, where, f"must be an object, not {data!r}")
    for key in required:
        if key not in data:
            raise field_error(path, f"{where}.{key}", "is missing")
    for key, kind in schema.items():
        if key in data and not _fits(data[key], kind):
            raise field_error(
                path,
                f"{where}.{key}".lstrip("."),
                f"is {data[key]!r}, but must be {_describe(kind)}",
            )


def check_project_data(path: Path, data: object) -> None:
    """Raise a MusaeError naming ``path`` and the first field whose type is wrong."""
    if not isinstance(data, dict):
        raise MusaeError(f"{path.name} is not a musae project.", "pick a .musae.json file.")
    _check(path, data, "", TOP)
    _check(path, data.get("master", {}), "master", MASTER)
    _check_mixer(path, data.get("mixer", {}), "mixer")
    for i, entry in enumerate(data.get("takes", [])):
        where = f"takes[{i}]"
        _check(path, entry, where, TAKE, TAKE_REQUIRED)
        _check(path, entry["master"], f"{where}.master", MASTER)
        _check_mixer(path, entry["mixer"], f"{where}.mixer")
        for key, value in entry.get("files", {}).items():
            if not isinstance(value, str):
                raise field_error(path, f"{where}.files.{key}", f"is {value!r}, but must be text")


def _check_mixer(path: Path, mixer: Any, where: str) -> None:
    _check(path, mixer, where, {"channels": list})
    for i, channel in enumerate(mixer.get("channels", [])):
        _check(path, channel, f"{where}.channels[{i}]", CHANNEL, ("feature",))
        for j, point in enumerate(channel.get("envelope", [])):
            ok = isinstance(point, list) and len(point) == 2 and all(_fits(v, float) for v in point)
            if not ok:
                raise field_error(
                    path,
                    f"{where}.channels[{i}].envelope[{j}]",
                    f"is {point!r}, but must be [seconds, gain]",
                )
