"""What determines a demo corpus (corpus.json) and how its clips are named: below both the
corpus builder (corpus.py) and the truth derivation (truth.py), which each read it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from musae_core.errors import MusaeError

FORMAT = "musae-demo-corpus"


@dataclass(frozen=True)
class CorpusSpec:
    """What determines a corpus; stored in corpus.json and checked when resuming."""

    n_clips: int
    seed: int = 0
    clip_seconds: float = 10.0
    sample_rate: int = 16_000

    def to_dict(self) -> dict:
        return {"format": FORMAT, "version": 1, **self.__dict__}


def clip_name(index: int) -> str:
    return f"{index:06d}"


def load_spec(corpus: str | Path) -> CorpusSpec:
    """The spec a corpus was rendered with (its corpus.json)."""
    path = Path(corpus) / "corpus.json"
    if not path.exists():
        raise MusaeError(f"{path} is missing.", "build the corpus with `musae demo build-corpus`.")
    meta = json.loads(path.read_text())
    return CorpusSpec(**{k: meta[k] for k in ("n_clips", "seed", "clip_seconds", "sample_rate")})
