"""Test data behind the shared fixtures in conftest.py (a random SAE for the tiny model, a small
feature database written with the real FeatureDB writer API, no mocks), for tests that build
their own copy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

TINY_LAYER = 2
N_FEATURES = 48


def clip_wav(folder, index: int, rate: int = 32000) -> str:
    from musae_core.audio.io import write_wav

    t = np.arange(int(rate * 0.5)) / rate
    audio = (0.3 * np.sin(2 * np.pi * (220 + 40 * index) * t)).astype(np.float32)
    return str(write_wav(folder / f"clip{index}.wav", audio, rate))


def write_test_db(path, sae_dir: str, clip_paths: list[str], n: int = N_FEATURES):
    """Write ``n`` features (a few dead/rare/generic), labels, top clips and neighbours."""
    from musae_core.features import FeatureDB, FeatureStats, TopClip

    db = FeatureDB.create(
        path,
        {
            "model_id": "tiny",
            "layer": TINY_LAYER,
            "d_sae": n,
            "sae_path": sae_dir,
            "sample_rate": 32000,
        },
    )
    stats = []
    for i in range(n):
        counts = [int(c) for c in np.random.default_rng(i).integers(0, 50, 8)]
        stats.append(
            FeatureStats(
                id=i,
                frequency=0.001 * i,
                clip_rate=0.02 * (i % 10),
                max_activation=1.0 + i,
                mean_activation=0.5,
                quantiles={"q50": 0.5, "q99": 0.9},
                histogram=(list(np.linspace(0, 1 + i, 9)), counts),
                dead=i == 0,
                rare=i % 7 == 1,
                generic=i % 11 == 2,
            )
        )
    db.write_features(stats)
    words = ["piano", "drums", "bass", "strings", "synth pad", "vocals"]
    for i in range(1, n):
        db.add_label(
            i,
            "descriptor",
            f"{words[i % len(words)]} {i}",
            0.5 + 0.01 * i,
            {"why": "test"},
            description=f"bright texture number {i}",
            clap_score=0.2,
        )
    db.add_label(5, "llm", "warm electric piano", 0.9, {"clips": 3}, description="jazzy chords")
    for i in (3, 4, 5):
        clips = [
            TopClip(rank=r, source_path=clip_paths[r], clip_start=0.0, clip_seconds=0.5,
                    mean_activation=1.0 / (r + 1), peak_activation=2.0 / (r + 1),
                    timeline=list(np.abs(np.sin(np.linspace(0, 3, 25) + r))), frame_rate=50.0,
                    best_window=(0.1, 0.3), snippet_path=Path(clip_paths[r]))
            for r in range(len(clip_paths))
        ]  # fmt: skip
        db.write_top_clips(i, "mean", clips)
        db.write_neighbours(i, [(i + 1, 0.8), (i + 2, 0.5)])
    db.set_favourite(4, True)
    db.close()
    return path


def write_test_sae(folder, d_in: int):
    """A TopK SAE with random unit-norm directions that reads the tiny model's layer 2."""
    from musae_core.sae import SAEConfig, build_sae, save_sae

    cfg = SAEConfig("topk", d_in=d_in, d_sae=N_FEATURES, k=4, model_id="tiny", layer=TINY_LAYER)
    sae = build_sae(cfg)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        sae.W_dec.copy_(torch.randn(N_FEATURES, cfg.d_in, generator=gen))
        sae.normalize_decoder()
        sae.W_enc.copy_(sae.W_dec.T)
        sae.max_activation.copy_(torch.linspace(1.0, 8.0, N_FEATURES))
    return save_sae(sae, folder / "tiny-sae")
