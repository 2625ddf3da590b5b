"""`analyze` on a hand-made store: statistics, top clips, timelines, snippets, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from test_features_support import D_SAE, SR, make_sae, make_store

from musae_core.errors import Cancelled, MusaeError
from musae_core.features import FeatureDB
from musae_core.features.analyze import analyze, temp_paths
from musae_core.jobs import CancelToken


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return make_store(tmp_path_factory.mktemp("store"))


@pytest.fixture(scope="module", params=["relu", "topk"])
def built(request, store, tmp_path_factory):
    out = tmp_path_factory.mktemp("db") / "FEATURES.db"
    report = analyze(
        make_sae(architecture=request.param), store, out, top_n=3, rare=0.2, snippet_seconds=0.2
    )
    return out, report


def test_statistics_and_flags(built):
    out, report = built
    assert report.features == D_SAE and report.rows == 200 and report.clips == 8
    with FeatureDB.open(out, readonly=True) as db:
        assert db.feature_count() == D_SAE
        f0 = db.feature(0)
        assert f0.frequency == pytest.approx(30 / 200)
        assert f0.clip_rate == pytest.approx(2 / 8)
        assert f0.max_activation == pytest.approx(2.0)
        assert f0.mean_activation == pytest.approx((25 * 1.0 + 5 * 2.0) / 30)
        assert f0.quantiles["q99"] == pytest.approx(2.0, rel=0.05)
        assert sum(f0.histogram[1]) == 30 and len(f0.histogram[0]) == len(f0.histogram[1]) + 1
        assert not (f0.dead or f0.rare or f0.generic)
        assert db.feature(1).dead and db.feature(5).dead and not db.feature(1).rare
        assert db.feature(2).generic and db.feature(2).clip_rate == pytest.approx(1.0)
        assert db.feature(3).rare and db.feature(3).frequency == pytest.approx(1 / 200)
        meta = db.meta()
        assert meta["model_id"] == "tiny" and meta["layer"] == 1 and meta["d_sae"] == D_SAE
        assert meta["thresholds"]["rare"] == 0.2 and meta["clips"] == 8


def test_top_clips_rank_by_mean_and_by_peak_with_timelines(built):
    out, _ = built
    with FeatureDB.open(out, readonly=True) as db:
        by_mean = db.top_clips(0, by="mean")
        by_peak = db.top_clips(0, by="peak")
        assert [(c.source_id, c.clip_index) for c in by_mean] == [(1, 0), (2, 1)]
        assert [(c.source_id, c.clip_index) for c in by_peak] == [(2, 1), (1, 0)]
        first, second = by_mean
        assert first.rank == 1 and first.mean_activation == pytest.approx(1.0)
        assert second.mean_activation == pytest.approx(0.4) and second.peak_activation == 2.0
        assert second.clip_start == 0.5 and second.clip_seconds == pytest.approx(0.5)
        assert second.source_path.endswith("tone2.wav") and second.frame_rate == 50.0
        timeline = np.array(second.timeline)
        assert len(timeline) == 25 and np.flatnonzero(timeline).tolist() == list(range(10, 15))
        start, end = second.best_window
        assert end - start == pytest.approx(0.2) and start <= 0.2 and end >= 0.3
        assert db.top_clips(1) == []  # dead: no clips
        assert len(db.top_clips(2)) == 3  # generic: capped at top_n


def test_snippets_are_cached_and_playable(built):
    out, report = built
    with FeatureDB.open(out, readonly=True) as db:
        assert db.snippet_dir == out.with_name("FEATURES.snippets") and report.snippets > 0
        for clip in db.top_clips(0) + db.top_clips(4, by="peak"):
            assert clip.snippet_path is not None and clip.snippet_path.is_absolute()
            audio, rate = sf.read(clip.snippet_path)
            assert rate == SR and len(audio) == pytest.approx(0.2 * SR, abs=2)
            assert np.abs(audio).max() > 0.1
    db_tmp, snippets_tmp, spill = temp_paths(out)
    assert not db_tmp.exists() and not snippets_tmp.exists() and not spill.exists()


def test_neighbours_by_decoder_cosine(built):
    out, _ = built
    with FeatureDB.open(out, readonly=True) as db:
        pairs = db.neighbours(0)
        assert len(pairs) == 5 and pairs[0][0] == 5  # the all-ones row overlaps every axis
        assert pairs[0][1] == pytest.approx(1 / np.sqrt(8), abs=1e-4)
        assert all(other != 0 for other, _ in pairs)


def test_missing_sources_leave_no_snippet_but_the_db(store, tmp_path):
    moved = []
    for path in (store.path.parent / "audio").glob("*.wav"):
        moved.append((path, path.with_suffix(".gone")))
        path.rename(moved[-1][1])
    try:
        report = analyze(make_sae(), store, tmp_path / "f.db", top_n=2, snippet_seconds=0.2)
    finally:
        for original, gone in moved:
            gone.rename(original)
    assert report.snippets == 0 and report.snippet_problems
    with FeatureDB.open(tmp_path / "f.db") as db:
        assert all(c.snippet_path is None for c in db.top_clips(0))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"model_id": "facebook/musicgen-small"}, "musicgen-small"),
        ({"layer": 3}, "layer 3"),
        ({"d_in": 16}, "d_in=16"),
    ],
)
def test_store_sae_mismatch_is_a_clear_error(store, tmp_path, kwargs, message):
    with pytest.raises(MusaeError, match=message):
        analyze(make_sae(**kwargs), store, tmp_path / "f.db")
    assert not any(tmp_path.iterdir())


def test_existing_output_needs_overwrite_and_cancel_cleans_up(store, tmp_path):
    out = tmp_path / "f.db"
    out.write_text("keep me")
    with pytest.raises(MusaeError, match="overwrite"):
        analyze(make_sae(), store, out)
    token = CancelToken()

    def cancel_midway(done, total):
        if done == 2:
            token.cancel()

    with pytest.raises(Cancelled):
        analyze(make_sae(), store, out, overwrite=True, progress=cancel_midway, cancel=token)
    assert out.read_text() == "keep me"
    # no temporary database or snippets; the encoded shards stay for a resume
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.db", "f.db.codes.tmp"]
    analyze(make_sae(), store, out, overwrite=True, snippet_seconds=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.db"]
    with FeatureDB.open(out) as db:
        assert db.feature_count() == D_SAE and db.top_clips(0)[0].snippet_path is None


def test_a_killed_analyze_resumes_after_its_last_encoded_shard(tmp_path, monkeypatch):
    """kill -9 after 5 of 8 shards: the re-run encodes only the last 3, and the database is
    the one a run from scratch writes."""
    import os
    import signal
    import subprocess
    import sys

    import musae_core.features.analyze as analyze_module

    store = make_store(tmp_path / "s", shard_rows=25)
    assert len(store.shard_names()) == 8
    make_sae(tmp_path / "sae")
    out = tmp_path / "f.db"
    script = f"""
import os, signal
from musae_core.features.analyze import analyze
from musae_core.harvest.store import ActivationStore
from musae_core.sae import load_sae

def progress(done, total):
    if done == 5:
        os.kill(os.getpid(), signal.SIGKILL)

analyze(load_sae({str(tmp_path / "sae")!r}), ActivationStore.open({str(store.path)!r}),
        {str(out)!r}, top_n=3, snippet_seconds=0, progress=progress)
"""
    killed = subprocess.run([sys.executable, "-c", script], env=os.environ, capture_output=True)
    assert killed.returncode == -signal.SIGKILL and not out.exists()
    encoded = []
    real = analyze_module.sparse_codes
    monkeypatch.setattr(
        analyze_module,
        "sparse_codes",
        lambda sae, acts, *a: encoded.append(1) or real(sae, acts, *a),
    )
    resumed = analyze(make_sae(), store, out, top_n=3, snippet_seconds=0)
    assert len(encoded) == 3  # was 8: the run started over
    fresh = analyze(make_sae(), store, tmp_path / "fresh.db", top_n=3, snippet_seconds=0)
    assert (resumed.rows, resumed.clips, resumed.dead) == (fresh.rows, fresh.clips, fresh.dead)
    with FeatureDB.open(out) as a, FeatureDB.open(tmp_path / "fresh.db") as b:
        for j in range(D_SAE):
            assert a.feature(j).histogram == b.feature(j).histogram
            assert a.feature(j).frequency == b.feature(j).frequency
            top_a = [(c.source_path, c.clip_start, c.mean_activation) for c in a.top_clips(j)]
            assert top_a == [
                (c.source_path, c.clip_start, c.mean_activation) for c in b.top_clips(j)
            ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.db", "fresh.db", "s", "sae"]
