"""Feature map layout (issue 19, section 3): PCA fallback, cache in the DB keyed by the SAE,
`musae map`."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from musae_core.errors import Cancelled, MusaeError
from musae_core.features import FeatureDB, FeatureStats
from musae_core.features.layout import (
    compute_layout,
    decoder_hash,
    layout_for_sae,
    load_layout,
    save_layout,
)
from musae_core.jobs import CancelToken


def clustered_decoder(n_per: int = 20, d: int = 16, seed: int = 0) -> np.ndarray:
    """Three tight clusters of directions (a, b, -a): cosine structure a map must show."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=d), rng.normal(size=d)
    centres = [a, b, -a]
    rows = [c + 0.05 * rng.normal(size=d) for c in centres for _ in range(n_per)]
    return np.array(rows, dtype=np.float32)


def make_db(path, n: int) -> FeatureDB:
    db = FeatureDB.create(path, {"model_id": "tiny", "d_sae": n})
    db.write_features(
        FeatureStats(id=i, frequency=0.01, clip_rate=0.1, max_activation=1.0, mean_activation=0.5)
        for i in range(n)
    )
    return db


def test_pca_layout_is_deterministic_and_keeps_cosine_clusters():
    w = clustered_decoder()
    first = compute_layout(w, "pca")
    second = compute_layout(w * 3.0, "pca")  # scale does not change cosine
    assert first.method == "pca" and first.xy.shape == (60, 2)
    np.testing.assert_allclose(first.xy, second.xy, atol=1e-5)
    assert np.abs(first.xy).max() == pytest.approx(1.0)
    centres = [first.xy[i * 20 : (i + 1) * 20].mean(axis=0) for i in range(3)]
    spread = max(
        np.linalg.norm(first.xy[i * 20 : (i + 1) * 20] - centres[i], axis=1).max() for i in range(3)
    )
    gap = min(np.linalg.norm(centres[i] - centres[j]) for i in range(3) for j in range(i))
    assert gap > 4 * spread  # clusters stay apart on the map


def test_cancel_stops_the_layout():
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        compute_layout(clustered_decoder(), "pca", cancel=token)


def test_bad_decoder_and_method_are_refused_by_name():
    with pytest.raises(MusaeError, match="shape"):
        compute_layout(np.zeros((1, 4)), "pca")
    with pytest.raises(MusaeError, match="method"):
        compute_layout(clustered_decoder(), "tsne")


def test_cache_round_trip_and_invalidated_when_the_sae_changes(tmp_path):
    w = clustered_decoder()
    db = make_db(tmp_path / "f.db", len(w))
    layout, computed = layout_for_sae(db, w, "pca")
    assert computed
    again, computed = layout_for_sae(db, w, "pca")
    assert not computed
    np.testing.assert_array_equal(again.xy, layout.xy)
    db.close()
    with FeatureDB.open(tmp_path / "f.db", readonly=True) as ro:
        cached = load_layout(ro, decoder_hash(w))
        assert cached is not None and cached.method == "pca"
        np.testing.assert_array_equal(cached.xy, layout.xy)
        retrained = w.copy()
        retrained[0, 0] += 0.5
        assert load_layout(ro, decoder_hash(retrained)) is None  # another SAE: not this map
        assert load_layout(ro).sae_hash == decoder_hash(w)  # no SAE given: the newest map


def test_layout_of_the_wrong_size_is_refused(tmp_path):
    db = make_db(tmp_path / "f.db", 10)
    with pytest.raises(MusaeError, match="60 features"):
        save_layout(db, compute_layout(clustered_decoder(), "pca"))


def test_a_schema_1_database_gains_the_layout_table_when_migrated(tmp_path):
    path = tmp_path / "old.db"
    make_db(path, 4).close()
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE feature_layouts")  # as schema 1 was: neither later table
    conn.execute("DROP TABLE concept_groups")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with FeatureDB.open(path) as db:  # read-write open migrates
        layout, _ = layout_for_sae(db, np.eye(4, 8, dtype=np.float32), "pca")
        assert load_layout(db, layout.sae_hash) is not None
        assert db.has_table("concept_groups")  # every later migration ran, in order


def test_musae_map_computes_then_reuses_the_cached_layout(tmp_path, capsys):
    import torch

    from musae_core.cli import main
    from musae_core.sae import SAEConfig, build_sae, save_sae

    sae = build_sae(SAEConfig("topk", d_in=16, d_sae=60, k=4, model_id="tiny", layer=1))
    with torch.no_grad():
        sae.W_dec.copy_(torch.from_numpy(clustered_decoder()))
    sae_dir = save_sae(sae, tmp_path / "sae")
    make_db(tmp_path / "f.db", 60).close()
    args = ["map", "--db", str(tmp_path / "f.db"), "--sae", str(sae_dir), "--method", "pca"]
    assert main(args) == 0
    assert "computed and cached" in capsys.readouterr().out
    assert main(args) == 0
    assert "already cached" in capsys.readouterr().out
    with FeatureDB.open(tmp_path / "f.db", readonly=True) as db:
        assert load_layout(db).count == 60
