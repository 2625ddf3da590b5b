"""Timestamps musae writes (databases, job bookkeeping): one format, from a module below all
others so any layer can stamp without importing the feature database."""

from __future__ import annotations

import time


def now() -> str:
    """The local time as ISO 8601 with its UTC offset, e.g. ``2026-11-30T09:45:00+0000``."""
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
