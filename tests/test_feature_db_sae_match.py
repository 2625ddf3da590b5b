"""A feature database knows its SAE: analyze records it, consumers refuse another SAE's DB."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from test_features_support import make_sae, make_store

from musae_core.cli import main
from musae_core.errors import MusaeError
from musae_core.features import FeatureDB
from musae_core.features.analyze import analyze
from musae_core.features.sae_match import SaeMismatch, check_db_matches_sae
from musae_core.sae import load_sae, save_sae
from musae_core.sae.identity import sae_identity
from musae_core.workstation.project import Project
from musae_core.workstation.session import Session

GENERATE = ["generate", "--model", "tiny", "--device", "cpu", "--duration", "0.5"]


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    """A database written by ``analyze`` from the identity-encoder SAE, and that SAE's folder."""
    folder = tmp_path_factory.mktemp("analysed")
    sae = make_sae(folder / "sae")
    out = folder / "FEATURES.db"
    store = make_store(tmp_path_factory.mktemp("store"))
    analyze(sae, store, out, top_n=2, snippet_seconds=0)
    return out, folder / "sae"


def _retag(path, tmp_path, **meta):
    """A copy of the database at ``path`` with ``meta`` changed (e.g. another SAE's identity)."""
    copy = shutil.copy(path, tmp_path / "other.db")
    with FeatureDB.open(copy) as db:
        db.update_meta(**meta)
        db.checkpoint()
    return copy


def _other_sae(like_dir, tmp_path, d_sae=None):
    """An SAE with another decoder (and optionally another width) than the one at ``like_dir``."""
    sae = load_sae(like_dir)
    cfg = sae.cfg.replace(d_sae=d_sae) if d_sae else sae.cfg
    other = type(sae)(cfg)
    with torch.no_grad():
        other.W_dec.copy_(
            torch.randn(cfg.d_sae, cfg.d_in, generator=torch.Generator().manual_seed(7))
        )
        other.normalize_decoder()
        other.W_enc.copy_(other.W_dec.T)
    return save_sae(other, tmp_path / "other-sae"), other


def test_analyze_records_the_sae_identity_and_a_reload_matches_it(analysed):
    db_path, sae_dir = analysed
    with FeatureDB.open(db_path, readonly=True) as db:
        recorded = db.meta()["sae_identity"]
        assert recorded == sae_identity(load_sae(sae_dir))
        assert check_db_matches_sae(db, load_sae(sae_dir)) is None  # no warning, no refusal
    assert (
        recorded["d_sae"] == 6 and recorded["layer"] == 1 and len(recorded["weights_sha256"]) == 64
    )


def test_generate_refuses_a_database_of_another_sae(
    tiny_sae_dir, feature_db_path, tmp_path, capsys
):
    _, other = _other_sae(tiny_sae_dir, tmp_path, d_sae=96)
    wrong = _retag(feature_db_path, tmp_path, sae_identity=sae_identity(other), d_sae=96)
    out = tmp_path / "take.wav"
    args = [
        *GENERATE,
        "--sae",
        str(tiny_sae_dir),
        "--features",
        str(wrong),
        "--steer",
        "5=1",
        "--out",
        str(out),
    ]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "analysed from another SAE" in err and "d_sae 96 (this SAE: 48)" in err
    assert "musae analyze" in err and not out.exists()


def test_legacy_database_of_another_model_is_refused_and_a_matching_one_warns(
    tiny_sae_dir, feature_db_path, tmp_path, capsys
):
    wrong = _retag(feature_db_path, tmp_path, model_id="demo", d_sae=3072)
    args = [*GENERATE, "--sae", str(tiny_sae_dir), "--steer", "5=1"]
    assert main([*args, "--features", str(wrong), "--out", str(tmp_path / "a.wav")]) == 2
    assert "model_id 'demo' (this SAE: 'tiny')" in capsys.readouterr().err
    assert main([*args, "--features", str(feature_db_path), "--out", str(tmp_path / "b.wav")]) == 0
    assert "records no SAE identity" in capsys.readouterr().err


def test_eval_steering_refuses_a_database_of_another_sae(
    tiny_sae_dir, feature_db_path, tmp_path, capsys
):
    _, other = _other_sae(tiny_sae_dir, tmp_path)
    wrong = _retag(feature_db_path, tmp_path, sae_identity=sae_identity(other))
    args = [
        "eval-steering",
        "--model",
        "tiny",
        "--device",
        "cpu",
        "--sae",
        str(tiny_sae_dir),
        "--db",
        str(wrong),
        "--features",
        "5",
        "--n",
        "2",
        "--duration",
        "0.3",
        "--no-clap",
    ]
    assert main(args) == 2
    assert "weights hash differs" in capsys.readouterr().err
    with FeatureDB.open(wrong, readonly=True) as db:
        assert db.steering(5) is None  # nothing was measured with the wrong beta


def test_session_refuses_the_mismatch_and_keeps_running(
    tiny_model, tiny_sae_dir, feature_db_path, tmp_path
):
    _, other = _other_sae(tiny_sae_dir, tmp_path)
    wrong = _retag(feature_db_path, tmp_path, sae_identity=sae_identity(other))
    session = Session(model=tiny_model)
    session.load_sae(tiny_sae_dir)
    with pytest.raises(SaeMismatch, match="another SAE"):
        session.open_feature_db(wrong)
    assert session.db is None and session.project.feature_db_path is None
    session.open_feature_db(feature_db_path)  # a legacy DB of this SAE: accepted, with a warning
    assert "records no SAE identity" in session.db_warning
    with pytest.raises(MusaeError, match="another SAE"):
        Session(model=tiny_model, db=FeatureDB.open(wrong, readonly=True)).load_sae(tiny_sae_dir)
    project = Project(model_id="tiny", sae_path=str(tiny_sae_dir), feature_db_path=str(wrong))
    opened = Session(project=project)
    warnings = opened.open_resources()
    assert any("SAE not loaded" in w and "another SAE" in w for w in warnings)
    assert opened.db is not None and opened.sae is None and opened.model is not None


def test_stamp_records_the_identity_only_for_the_sae_whose_directions_match(
    analysed, tmp_path, capsys
):
    db_path, sae_dir = analysed
    legacy = _retag(db_path, tmp_path, sae_identity=None)
    other_dir, _ = _other_sae(sae_dir, tmp_path)
    assert main(["db", "stamp", "--db", str(legacy), "--sae", str(other_dir)]) == 2
    assert "decoder cosine" in capsys.readouterr().err
    assert main(["db", "stamp", "--db", str(legacy), "--sae", str(sae_dir)]) == 0
    assert "identity recorded" in capsys.readouterr().out
    with FeatureDB.open(legacy, readonly=True) as db:
        assert check_db_matches_sae(db, load_sae(sae_dir)) is None
        with pytest.raises(SaeMismatch):
            check_db_matches_sae(db, load_sae(other_dir))


def test_the_shipped_demo_database_is_stamped_with_the_shipped_sae():
    demo = Path(__file__).resolve().parents[1] / "resources" / "demo"
    if not (demo / "features.db").is_file() or not (demo / "sae" / "cfg.json").is_file():
        pytest.skip("the demo is not built into resources/demo")
    with FeatureDB.open(demo / "features.db", readonly=True) as db:
        assert check_db_matches_sae(db, load_sae(demo / "sae")) is None


def test_identity_covers_the_threshold_that_shapes_the_codes():
    """Two JumpReLU SAEs with the same weights but other thresholds give other codes, so they
    must not share an identity (a TopK SAE has no threshold and hashes its four weights)."""
    a, b = make_sae(architecture="jumprelu"), make_sae(architecture="jumprelu")
    x = torch.randn(64, a.cfg.d_in)
    assert sae_identity(a) == sae_identity(b)
    with torch.no_grad():
        b.log_threshold.add_(1.0)
    assert not torch.equal(a.encode(x), b.encode(x))
    assert sae_identity(a)["weights_sha256"] != sae_identity(b)["weights_sha256"]
