"""Keep secrets and non-JSON numbers out of the database.

Labellers already redact API keys, but the database is the last line: anything that looks like
a key (or equals the configured one) is refused, so a bug upstream can never persist it.
"""

from __future__ import annotations

import json
import math
import os
import re
from typing import Any

from musae_core.errors import MusaeError

KEY_PATTERN = re.compile(r"sk-[A-Za-z0-9_\-]{16,}")
KEY_ENV_VARS = ("MUSAE_LLM_API_KEY", "OPENAI_API_KEY")


def _configured_keys() -> list[str]:
    return [v for v in (os.environ.get(name, "") for name in KEY_ENV_VARS) if len(v) >= 8]


def contains_secret(text: str) -> bool:
    """True when ``text`` holds something shaped like an API key or a configured key."""
    return bool(KEY_PATTERN.search(text)) or any(k in text for k in _configured_keys())


def refuse_secret(text: str, what: str) -> str:
    """Return ``text`` unchanged, or raise if it holds an API key."""
    if contains_secret(text):
        raise MusaeError(
            f"Refusing to store {what}: it contains what looks like an API key.",
            "redact the key before storing (this is a bug in the caller; please report it).",
        )
    return text


def redact(text: str) -> str:
    """``text`` with anything key-like replaced by ``***`` (for error messages)."""
    for key in _configured_keys():
        text = text.replace(key, "***")
    return KEY_PATTERN.sub("***", text)


def clean_json(value: Any) -> Any:
    """A JSON-safe copy: NaN/inf become None, numpy scalars and tuples become plain values."""
    if isinstance(value, dict):
        return {str(k): clean_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_json(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return clean_json(value.tolist())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)


def dump_json(value: Any, what: str) -> str:
    """Serialise ``value`` for storage: NaN-free, key-free JSON text."""
    text = json.dumps(clean_json(value), allow_nan=False, sort_keys=True)
    return refuse_secret(text, what)
