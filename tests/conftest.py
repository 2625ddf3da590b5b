"""Shared fixtures: a tiny MusicGen built offline, on the CPU, once per test session."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
import torch

torch.set_num_threads(min(2, os.cpu_count() or 1))


# --- the shared SAE and feature database (builders in fixture_data.py) ---


@pytest.fixture(scope="session")
def tiny_sae_dir(tmp_path_factory, tiny_model):
    """A TopK SAE with random unit-norm directions that reads the tiny model's layer 2."""
    from fixture_data import write_test_sae

    return write_test_sae(tmp_path_factory.mktemp("sae"), tiny_model.d_model)


@pytest.fixture(scope="session")
def feature_db_path(tmp_path_factory, tiny_sae_dir):
    """A feature DB for the SAE above, written with the real FeatureDB writer API."""
    from fixture_data import clip_wav, write_test_db

    folder = tmp_path_factory.mktemp("featuredb")
    clips = [clip_wav(folder, i) for i in range(3)]
    return write_test_db(folder / "features.db", str(tiny_sae_dir), clips)


@pytest.fixture(scope="session")
def tiny_model():
    from musae_core.models.loading import load_model

    return load_model("tiny", device="cpu", dtype="fp32")


@pytest.fixture
def labelling_db(tmp_path):
    """Factory of real feature databases for the labelling tests: ``labelling_db({feature_id:
    [TopClip, ...]})`` writes a FeatureDB in ``tmp_path`` whose features all fired and have
    those top clips (an empty list: fired, but its clips are missing); closed after the test."""
    from musae_core.features import FeatureDB, FeatureStats

    opened = []

    def make(clips):
        db = FeatureDB.create(
            tmp_path / f"labelling-{len(opened)}.db",
            {"model_id": "tiny", "layer": 2, "sample_rate": 32000},
        )
        opened.append(db)
        db.write_features(
            FeatureStats(
                id=f,
                frequency=0.1,
                clip_rate=0.1,
                mean_activation=0.5,
                quantiles={},
                max_activation=max((c.peak_activation for c in top), default=1.0),
                histogram=([0.0, 1.0], [1]),
            )
            for f, top in clips.items()
        )
        db.write_many_top_clips([(f, "mean", list(top)) for f, top in clips.items() if top])
        return db

    yield make
    for db in opened:
        db.close()
