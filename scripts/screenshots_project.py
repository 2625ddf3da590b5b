"""Build a real small musae project for the screenshots, through musae's own pipeline.

synthetic audio (tones, chords, arpeggios and click tracks of different pitch and tempo, written
with soundfile) -> ``harvest_audio`` on the tiny model -> ``train_sae`` over ``store_batches``
-> ``features.analyze`` -> ``musae label --method descriptors`` -> a ``.musae.json`` project.

The result is cached in ``build/screenshot-project/`` (gitignored); a re-run with the same
RECIPE reuses it. Nothing here is a stand-in: every file is what the CLI would have written.
Note the tiny model is random, so its features are real SAE features of a meaningless model;
the labels are what the descriptor labeller measured on their top clips.

    .venv/bin/python scripts/screenshots_project.py [--force]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FOLDER = ROOT / "build" / "screenshot-project"
RATE = 32000
LAYER = 2
RECIPE = {"version": 2, "model": "tiny", "layer": LAYER, "expansion": 4, "k": 8, "files": 18}


def _tone(midi: float, seconds: float, harmonics: int = 4) -> object:
    import numpy as np

    t = np.arange(int(RATE * seconds)) / RATE
    f0 = 440.0 * 2 ** ((midi - 69) / 12)
    return sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, harmonics + 1))


def _clicks(bpm: float, seconds: float, seed: int, pitch: float | None = None) -> object:
    import numpy as np

    rng = np.random.default_rng(seed)
    audio = np.zeros(int(RATE * seconds))
    n = int(0.03 * RATE)
    t = np.arange(n) / RATE
    hit = np.exp(-t * 120) * (
        rng.normal(size=n) if pitch is None else np.sin(2 * np.pi * pitch * t)
    )
    for start in np.arange(0.0, seconds - 0.03, 60.0 / bpm):
        i = int(start * RATE)
        audio[i : i + n] += hit
    return audio


def write_audio(folder: Path) -> list[Path]:
    """18 clips of 3-6 s: pitched tones, chords, arpeggios at several tempos, click tracks."""
    import numpy as np
    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    clips: dict[str, object] = {}
    for i, midi in enumerate((36, 43, 52, 60, 67, 76)):
        seconds = 3.0 + 0.5 * i
        t = np.arange(int(RATE * seconds)) / RATE
        clips[f"tone-midi{midi}"] = _tone(midi, seconds, 2 + i % 4) * np.exp(-0.3 * t)
    for root, quality in ((48, (0, 4, 7)), (57, (0, 3, 7)), (62, (0, 4, 7, 11))):
        clips[f"chord-{root}-{len(quality)}"] = sum(_tone(root + q, 4.0) for q in quality) / 3
    for bpm, root in ((90, 60), (140, 67), (200, 55)):
        seconds, step = 5.0, 60.0 / bpm / 2
        notes = [root + (0, 4, 7, 12)[n % 4] for n in range(int(seconds / step))]
        clips[f"arpeggio-{bpm}bpm"] = np.concatenate([
            _tone(m, step) * np.exp(-8 * np.arange(int(RATE * step)) / RATE) for m in notes
        ])  # fmt: skip
    for j, bpm in enumerate((70, 100, 128, 160)):
        clips[f"clicks-{bpm}bpm"] = _clicks(bpm, 4.0 + j * 0.5, seed=j)
    clips["woodblock-120bpm"] = _clicks(120, 5.0, seed=9, pitch=900.0)
    clips["noise-pad"] = np.random.default_rng(3).normal(size=RATE * 4) * 0.3
    paths = []
    for name, audio in clips.items():
        audio = np.asarray(audio, np.float64)
        audio = 0.5 * audio / max(1e-9, float(np.max(np.abs(audio))))
        path = folder / f"{name}.wav"
        sf.write(path, audio.astype(np.float32), RATE, subtype="PCM_16")
        paths.append(path)
    return paths


def _step(name: str, started: float) -> None:
    print(f"  {name} done ({time.perf_counter() - started:.1f} s)", flush=True)


def build(folder: Path = FOLDER, force: bool = False) -> Path:
    """Run the pipeline into ``folder`` (cached) and return the project file."""
    project_file = folder / "screenshots.musae.json"
    marker = folder / "recipe.json"
    cached = project_file.is_file() and marker.is_file()
    if not force and cached and json.loads(marker.read_text()) == RECIPE:
        print(f"reusing {folder}")
        return project_file
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    import torch

    from musae_core.cli import main as musae
    from musae_core.features.analyze import analyze
    from musae_core.harvest import HarvestConfig, harvest_audio
    from musae_core.harvest.store import ActivationStore
    from musae_core.models.loading import load_model
    from musae_core.sae import load_sae
    from musae_core.sae.sources import store_batches
    from musae_core.sae.trainer import TrainSettings, train_sae
    from musae_core.workstation import MasterSettings, Project

    torch.manual_seed(0)
    started = time.perf_counter()
    print(f"building the screenshot project in {folder}", flush=True)
    write_audio(folder / "audio")
    _step("synthetic audio", started)
    model = load_model(RECIPE["model"], device="cpu", dtype="fp32")
    config = HarvestConfig(
        layers=(LAYER,),
        clip_seconds=1.0,
        min_clip_seconds=0.5,
        batch_size=4,
        shard_rows=1024,
        dtype="fp32",
        background_writes=False,
    )
    harvest_audio(model, folder / "audio", folder / "store", config)
    store = ActivationStore.open(folder / "store")
    _step(f"harvest ({store.num_rows(LAYER)} frames)", started)
    settings = TrainSettings(
        expansion=RECIPE["expansion"],
        k=RECIPE["k"],
        total_tokens=120_000,
        batch_size=512,
        init_rows=2048,
        log_every=100,
    )
    factory = store_batches(store, LAYER, settings.batch_size, buffer_shards=2)
    train_sae(factory, store.d_model, settings, folder / "sae", model_id="tiny", layer=LAYER)
    _step("SAE training", started)
    sae = load_sae(folder / "sae")
    analyze(
        sae,
        store,
        folder / "features.db",
        top_n=8,
        snippet_seconds=1.0,
        neighbours=6,
        sae_path=folder / "sae",
    )
    _step("feature analysis", started)
    label = ["label", "--db", str(folder / "features.db"), "--method", "descriptors", "--all"]
    code = musae([*label, "--baseline-size", "32", "--top-clips", "8", "--alpha", "0.05"])
    if code != 0:
        raise SystemExit(f"musae label failed with exit code {code}")
    _step("descriptor labels", started)
    master = MasterSettings(prompt="simple melody", duration=4.0, seed=3)
    project = Project(
        model_id="tiny",
        sae_path=str(folder / "sae"),
        feature_db_path=str(folder / "features.db"),
        master=master,
    )
    project.save(project_file)
    marker.write_text(json.dumps(RECIPE))
    return project_file


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rebuild even when cached")
    print(build(force=parser.parse_args().force))
