"""Helpers for the feature tests: a hand-made activation store and an SAE reading it exactly.

The store has 4 audio sources x 2 clips x 25 frames (50 Hz, 0.5 s clips) at layer 1, d=8, in
two shards. The SAE's feature j reads dimension j of the activations (identity encoder), so
each feature fires exactly where the store says, with a known value.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from musae_core.harvest.prepare import prepare_store
from musae_core.harvest.store import STORE_FORMAT, STORE_VERSION, ActivationStore
from musae_core.harvest.writer import ShardWriter
from musae_core.sae import SAEConfig, build_sae, save_sae

SR, FRAME_RATE, FRAMES, D, D_SAE, LAYER = 32_000, 50.0, 25, 8, 6, 1
SOURCES, CLIPS = 4, 2


def activations() -> dict[tuple[int, int], np.ndarray]:
    """(source, clip) -> (25, 8) rows. Feature 0: 1.0 on all of (1, 0) and 2.0 on frames
    10-14 of (2, 1); 1 and 5 dead; 2: 0.5 everywhere; 3: 0.3 on frame 3 of (0, 1); 4: 1.5 on
    (3, 0) frames 0-4."""
    acts = {}
    for s in range(SOURCES):
        for c in range(CLIPS):
            x = np.full((FRAMES, D), -1.0, np.float32)
            x[:, 2] = 0.5
            x[:, 6:] = np.random.default_rng(10 * s + c).normal(size=(FRAMES, 2))
            acts[(s, c)] = x
    acts[(1, 0)][:, 0] = 1.0
    acts[(2, 1)][10:15, 0] = 2.0
    acts[(0, 1)][3, 3] = 0.3
    acts[(3, 0)][0:5, 4] = 1.5
    return acts


def make_store(folder: Path, model_id: str = "tiny", shard_rows: int = 100) -> ActivationStore:
    """Write the store (and the 1 s audio of each source) under ``folder``."""
    audio_dir = folder / "audio"
    audio_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    for s in range(SOURCES):
        t = np.arange(SR) / SR
        path = audio_dir / f"tone{s}.wav"
        sf.write(path, 0.3 * np.sin(2 * np.pi * (220 + 110 * s) * t), SR)
        entries.append({"path": str(path), "name": path.name, "caption": ""})
    store_path = folder / "store"
    meta = {
        "format": STORE_FORMAT,
        "version": STORE_VERSION,
        "model_id": model_id,
        "layers": [LAYER],
        "hook_names": [f"blocks.{LAYER}.hook_resid_post"],
        "d_model": D,
        "frame_rate": FRAME_RATE,
        "sample_rate": SR,
        "dtype": "fp32",
        "clip_seconds": 0.5,
        "min_clip_seconds": 0.2,
        "conditioning": "unconditional",
    }
    ids = prepare_store(store_path, meta, entries)
    writer = ShardWriter(store_path, [LAYER], "fp32", shard_rows, background=False)
    for (s, c), x in activations().items():
        sid = ids[entries[s]["path"]]
        writer.add_clip(sid, c, 0.5 * c, FRAME_RATE, {LAYER: torch.from_numpy(x)})
    writer.close()
    return ActivationStore.open(store_path)


def make_sae(
    folder: Path | None = None,
    architecture: str = "relu",
    model_id: str = "tiny",
    d_in: int = D,
    layer: int = LAYER,
):
    """Identity-encoder SAE: feature j = relu(x_j); decoder rows are unit basis vectors."""
    k = 2 if architecture == "topk" else None
    sae = build_sae(
        SAEConfig(architecture, d_in=d_in, d_sae=D_SAE, k=k, model_id=model_id, layer=layer)
    )
    with torch.no_grad():
        sae.W_enc.copy_(torch.eye(d_in)[:, :D_SAE])
        sae.W_dec.copy_(torch.eye(d_in)[:D_SAE])
        sae.W_dec[5] = torch.nn.functional.normalize(torch.ones(d_in), dim=0)
    if folder is not None:
        save_sae(sae, folder)
    return sae.eval()
