"""Put a trained demo (model, SAE, feature database, classifier) into ``resources/demo`` and open
a user's own copy of its project.

The shipped folder is what `musae-app` opens with no arguments:
``model/`` (MusicGen folder, fp16 safetensors), ``sae/``, ``features.db`` (compacted, rollback
journal), ``features.snippets/`` (Opus clips), ``factor_classifier.npz`` and
``demo.musae.json``. The app never edits that folder: ``user_demo_project`` copies everything
but the model into the user's data folder once per shipped version, so favourites, labels
and takes the user saves stay theirs (and survive updates of the repository).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

from musae_core.errors import MusaeError

PROJECT_NAME = "demo.musae.json"
COPIED = (
    "sae",
    "features.db",
    "features.snippets",
    "factor_classifier.npz",
    "factor_classifier.json",
    PROJECT_NAME,
)
STAMP = ".shipped-version"
DEMO_PROMPT = "medium loud major piano melody, mid register, in C major"  # a corpus-style caption


def compact_database(src: Path, dst: Path) -> None:
    """A self-contained copy of a (WAL) SQLite database: VACUUM INTO, rollback journal."""
    dst.unlink(missing_ok=True)
    with sqlite3.connect(str(src)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("VACUUM INTO ?", (str(dst),))
    conn.close()
    with sqlite3.connect(str(dst)) as out:
        out.execute("PRAGMA journal_mode = DELETE")
    out.close()


def save_fp16_model(model_dir: Path, dest: Path) -> None:
    """The MusicGen folder with half-precision weights (half the size; loads as fp32)."""
    import torch
    from transformers import MusicgenForConditionalGeneration

    from musae_core.demo.model_build import save_demo_model
    from musae_core.models import semitone_codec

    semitone_codec.register()  # the folder's audio encoder is the semitone codec
    hf = MusicgenForConditionalGeneration.from_pretrained(str(model_dir))
    extra = model_dir / "musae_demo.json"
    meta = json.loads(extra.read_text()) if extra.exists() else None
    # transformers wraps PreTrainedModel.to with functools.wraps; its stub wants the model again
    save_demo_model(hf.to(torch.float16), dest, extra=meta)  # type: ignore[arg-type]


def ship_demo(model_dir: str | Path, features_dir: str | Path, dest: str | Path) -> Path:
    """Copy a `musae demo train` model and a `musae demo features` folder into ``dest``."""
    from musae_core.workstation.master import MasterSettings
    from musae_core.workstation.project import Project

    model_dir, features_dir, dest = Path(model_dir), Path(features_dir), Path(dest)
    for needed in (
        model_dir / "config.json",
        features_dir / "features.db",
        features_dir / "sae" / "cfg.json",
    ):
        if not needed.exists():
            raise MusaeError(f"{needed} is missing.", "run musae demo train and features first.")
    dest.mkdir(parents=True, exist_ok=True)
    save_fp16_model(model_dir, dest / "model")
    for name in ("sae", "features.snippets"):
        shutil.rmtree(dest / name, ignore_errors=True)
        shutil.copytree(features_dir / name, dest / name)
    compact_database(features_dir / "features.db", dest / "features.db")
    for name in ("factor_classifier.npz", "factor_classifier.json"):
        shutil.copy2(features_dir / name, dest / name)
    project = Project(
        model_id="demo",
        sae_path=str(dest / "sae"),
        feature_db_path=str(dest / "features.db"),
        master=MasterSettings(prompt=DEMO_PROMPT),
    )
    return project.save(dest / PROJECT_NAME)


def shipped_version(shipped: Path) -> str:
    """A digest of the shipped database and SAE: a new one means a new demo to copy."""
    digest = hashlib.sha256()
    for name in ("features.db", "sae/sae_weights.safetensors"):
        path = shipped / name
        digest.update(path.read_bytes() if path.exists() else b"")
    return digest.hexdigest()[:16]


def user_demo_project(shipped: str | Path, user_dir: str | Path) -> Path | None:
    """The user's copy of the shipped demo project (made or refreshed here); None without one."""
    shipped, user_dir = Path(shipped), Path(user_dir)
    if not (shipped / PROJECT_NAME).exists():
        return None
    version = shipped_version(shipped)
    target = user_dir / version
    if (target / STAMP).exists():
        return target / PROJECT_NAME
    tmp = user_dir / f".{version}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in COPIED:
        src = shipped / name
        if src.is_dir():
            shutil.copytree(src, tmp / name)
        elif src.exists():
            shutil.copy2(src, tmp / name)
    (tmp / STAMP).write_text(version + "\n")
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target / PROJECT_NAME
