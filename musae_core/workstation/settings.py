"""User settings (typed, versioned JSON in the platform config folder); never any API keys."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from musae_core.fileio import write_json_atomic

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
APP_NAME = "musae"
KEY_ENV = "MUSAE_LLM_API_KEY"


def config_dir() -> Path:
    """Where settings live: platformdirs when installed (the GUI extra), else ~/.config/musae."""
    try:
        import platformdirs

        return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))
    except ImportError:
        return Path.home() / ".config" / APP_NAME


def data_dir() -> Path:
    """Where logs and autosaves live."""
    try:
        import platformdirs

        return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    except ImportError:
        return Path.home() / ".local" / "share" / APP_NAME


@dataclass
class Settings:
    """Compute device, CPU threads, model cache, audio output, LLM endpoint, recent projects,
    autosave, streaming playback."""

    device: str = "auto"
    dtype: str = "auto"
    threads: int = 0  # CPU threads for the model; 0 = automatic (musae_core.threads)
    model_cache: str = ""
    audio_device: str = ""  # "" = system default output
    llm_endpoint: str = ""
    autosave_seconds: int = 120
    stream_playback: bool = True  # Render+Play starts playing as the first chunks arrive
    auto_play: bool = False  # every render plays when it is ready (streamed when on above)
    recent_projects: list[str] = field(default_factory=list)
    midi_input: str = ""  # MIDI input port for MIDI learn; "" = every input port
    version: int = SCHEMA_VERSION

    def add_recent(self, path: str | os.PathLike[str], keep: int = 8) -> None:
        entry = str(Path(path).resolve())
        self.recent_projects = [entry, *[p for p in self.recent_projects if p != entry]][:keep]

    def save(self, path: Path | None = None) -> Path:
        path = path or config_dir() / "settings.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, dataclasses.asdict(self))
        return path

    @classmethod
    def load(cls, path: Path | None = None) -> Settings:
        """Read settings; a missing or broken file gives defaults (logged, never fatal)."""
        path = path or config_dir() / "settings.json"
        if not path.is_file():
            return cls()
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            log.warning("ignoring unreadable settings %s: %s", path, exc)
            return cls()
        known = {f.name for f in dataclasses.fields(cls)}
        data = {k: v for k, v in data.items() if k in known and "key" not in k.lower()}
        data["version"] = SCHEMA_VERSION
        return cls(**data)


def llm_api_key() -> str | None:
    """The LLM key from the environment or the OS keyring; it is never written to settings."""
    key = os.environ.get(KEY_ENV)
    if key:
        return key
    try:
        import keyring

        key = keyring.get_password(APP_NAME, "llm_api_key")
        return str(key) if key is not None else None
    except Exception:  # keyring missing or no backend: no key
        return None
