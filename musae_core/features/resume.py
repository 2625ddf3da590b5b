"""Resume state of ``analyze``'s first pass, so a killed or cancelled run continues where it was.

Pass 1 (encoding every row) is the long part. After each shard the running statistics and the
two top-clip selectors are saved beside the spilled codes in ``OUT.codes.tmp/``; a re-run with
the same SAE, store shards and settings restores them and skips the shards already encoded
(their clip table is rebuilt from the shards' row indexes, which is cheap). Pass 2 and the
database are always rebuilt from the spilled codes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path

import torch

from musae_core.features.activation_stats import FeatureAccumulator
from musae_core.features.topclips import TopSelector
from musae_core.fileio import atomic_path
from musae_core.sae.architectures import SparseAutoencoder
from musae_core.sae.identity import weights_sha256

log = logging.getLogger(__name__)
STATE_FILE = "pass1.pt"
_ACC = ("active", "sums", "max", "frame_hist", "clip_hist", "clips_over")
_SELECTOR = ("feats", "scores", "clips", "floor")


def run_key(sae: SparseAutoencoder, settings: dict) -> str:
    """What a saved state must match: the SAE (its identity hash, the one feature databases
    record) and the run's settings and shards."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    digest.update(weights_sha256(sae).encode())
    return digest.hexdigest()


class Pass1Checkpoint:
    """The spill folder's resume state: ``done`` shards already encoded (0 for a fresh run)."""

    def __init__(self, spill: Path, key: str) -> None:
        self.spill, self.key = spill, key
        self.state: dict | None = None
        file = spill / STATE_FILE
        if file.is_file():
            try:
                state = torch.load(file, weights_only=True)
                if state.get("key") == key:
                    self.state = state
                else:
                    log.info("discarding analyze state in %s: another SAE or settings", spill)
            except Exception as exc:  # torch raises many types for truncated files
                log.warning("discarding unreadable analyze state %s: %s", file, exc)
        if self.state is None:
            shutil.rmtree(spill, ignore_errors=True)
        spill.mkdir(parents=True, exist_ok=True)

    @property
    def done(self) -> int:
        return int(self.state["done"]) if self.state else 0

    def restore(self, acc: FeatureAccumulator, selectors: tuple[TopSelector, ...]) -> None:
        """Put the saved statistics back (no-op for a fresh run)."""
        if not self.state:
            return
        for name in _ACC:
            setattr(acc, name, self.state["acc"][name])
        acc.rows, acc.clips = int(self.state["rows"]), int(self.state["clips"])
        for selector, saved in zip(selectors, self.state["selectors"], strict=True):
            for name in _SELECTOR:
                setattr(selector, name, saved[name])
        log.info("analyze resumes after %d encoded shard(s)", self.done)

    def save(self, done: int, acc: FeatureAccumulator, selectors: tuple[TopSelector, ...]) -> None:
        """Record that the first ``done`` shards are encoded (written atomically)."""
        self.state = {
            "key": self.key,
            "done": done,
            "rows": acc.rows,
            "clips": acc.clips,
            "acc": {name: getattr(acc, name) for name in _ACC},
            "selectors": [{name: getattr(s, name) for name in _SELECTOR} for s in selectors],
        }
        with atomic_path(self.spill / STATE_FILE) as tmp:
            torch.save(self.state, tmp)
