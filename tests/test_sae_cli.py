"""Discovery from the command line on the tiny model: harvest -> train -> eval-sae -> steer."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch

from musae_core.cli import main
from musae_core.sae import load_sae

SR = 32_000


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small collection of tones, harvested at layer 2 and an SAE trained on it by the CLI."""
    root = tmp_path_factory.mktemp("discovery")
    audio = root / "audio"
    audio.mkdir()
    t = np.arange(SR) / SR
    for i, freq in enumerate((220, 330, 440, 587, 784, 988)):
        tone = 0.3 * np.sin(2 * np.pi * freq * t) * (1 + 0.5 * np.sin(2 * np.pi * (i + 1) * t))
        sf.write(audio / f"tone_{i}.wav", tone, SR)
    store, sae = root / "store", root / "sae"
    assert (
        main(
            [
                "harvest",
                "--model",
                "tiny",
                "--device",
                "cpu",
                "--layers",
                "2",
                "--audio",
                str(audio),
                "--clip-seconds",
                "0.5",
                "--shard-rows",
                "100",
                "--dtype",
                "fp32",
                "--out",
                str(store),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "train",
                "--store",
                str(store),
                "--layer",
                "2",
                "--arch",
                "topk",
                "--expansion",
                "4",
                "--k",
                "4",
                "--tokens",
                "3000",
                "--batch-size",
                "64",
                "--lr",
                "3e-3",
                "--checkpoint-every",
                "10",
                "--device",
                "cpu",
                "--out",
                str(sae),
            ]
        )
        == 0
    )
    return root, audio, store, sae


def test_train_writes_an_saelens_folder_for_the_store(trained):
    _, _, _, sae_dir = trained
    sae = load_sae(sae_dir)
    assert sae.cfg.model_id == "tiny" and sae.cfg.layer == 2 and sae.cfg.k == 4
    assert sae.cfg.d_sae == 4 * sae.cfg.d_in
    assert sae.cfg.training_tokens >= 2900
    assert (sae_dir / "sparsity.safetensors").is_file()
    assert not (sae_dir / "checkpoint.pt").exists()
    assert float(sae.max_activation.max()) > 0


def test_eval_sae_reports_reconstruction_and_delta_loss(trained, capsys):
    _, audio, store, sae = trained
    out = sae.parent / "eval.json"
    assert (
        main(
            [
                "eval-sae",
                "--sae",
                str(sae),
                "--store",
                str(store),
                "--holdout-fraction",
                "0",
                "--audio",
                str(audio),
                "--max-clips",
                "3",
                "--clip-seconds",
                "0.5",
                "--device",
                "cpu",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    report = json.loads(out.read_text())
    recon = report["reconstruction"]
    assert 0 <= recon["fvu"] < 0.9 and recon["l0"] <= 4 + 1e-6
    assert 0 <= recon["dead_fraction"] <= 1 and -1 <= recon["cosine"] <= 1
    delta = report["delta_loss"]
    assert delta["clips"] == 3
    values = [delta[k] for k in ("ce_clean", "ce_sae", "ce_zero_ablation")]
    assert all(np.isfinite(values)) and delta["ce_sae"] != delta["ce_clean"]
    assert delta["delta_loss"] == pytest.approx(delta["ce_sae"] - delta["ce_clean"])
    assert "fvu" in capsys.readouterr().out


def _generate(tmp_path, name, *extra) -> np.ndarray:
    out = tmp_path / name
    code = main(
        [
            "generate",
            "--model",
            "tiny",
            "--device",
            "cpu",
            "--prompt",
            "calm",
            "--duration",
            "0.5",
            "--seed",
            "3",
            "--out",
            str(out),
            *extra,
        ]
    )
    assert code == 0
    return sf.read(out)[0]


def test_generate_steers_with_an_sae_feature(trained, tmp_path):
    _, _, _, sae = trained
    base = _generate(tmp_path, "base.wav")
    zero = _generate(tmp_path, "zero.wav", "--sae", str(sae), "--steer", "5=0")
    steered = _generate(tmp_path, "steer.wav", "--sae", str(sae), "--steer", "5=40")
    assert np.array_equal(base, zero)
    assert not np.array_equal(base, steered)
    sidecar = json.loads((tmp_path / "steer.json").read_text())
    text = json.dumps(sidecar)
    assert '"feature": 5' in text and str(sae.resolve()) in text


def test_bad_feature_ids_and_mismatched_stores_are_clear_errors(trained, tmp_path, capsys):
    root, _, store, sae = trained
    out = str(tmp_path / "x.wav")
    args = ["generate", "--model", "tiny", "--device", "cpu", "--duration", "0.5", "--out", out]
    assert main([*args, "--sae", str(sae), "--steer", "100000=2"]) == 2
    assert "Unknown feature id 100000" in capsys.readouterr().err
    assert main([*args, "--sae", str(sae), "--steer", "five=2"]) == 2
    assert "FEATURE_ID=ALPHA" in capsys.readouterr().err
    assert (
        main(
            [
                "train",
                "--store",
                str(store),
                "--layer",
                "0",
                "--tokens",
                "100",
                "--out",
                str(root / "bad"),
            ]
        )
        == 2
    )
    assert "Layer 0 is not in activation store" in capsys.readouterr().err


def test_training_resumes_after_a_kill(trained, tmp_path, monkeypatch):
    """A hard kill at step 12 leaves the step-10 checkpoint; the same command resumes there."""
    _, _, store, _ = trained
    import musae_core.sae.trainer as trainer

    out = tmp_path / "sae"
    args = [
        "train",
        "--store",
        str(store),
        "--layer",
        "2",
        "--expansion",
        "2",
        "--k",
        "2",
        "--tokens",
        "1280",
        "--batch-size",
        "64",
        "--checkpoint-every",
        "5",
        "--device",
        "cpu",
        "--out",
        str(out),
    ]
    real_lr_factor = trainer._lr_factor

    def killed_at_12(step, settings, total):
        if step == 12:
            raise SystemExit("killed")  # nothing in the trainer gets to clean up
        return real_lr_factor(step, settings, total)

    monkeypatch.setattr(trainer, "_lr_factor", killed_at_12)
    with pytest.raises(SystemExit):
        main(args)
    assert (out / "checkpoint.pt").is_file() and not (out / "cfg.json").exists()
    monkeypatch.setattr(trainer, "_lr_factor", real_lr_factor)
    steps = []
    monkeypatch.setattr(
        trainer, "_lr_factor", lambda s, st, n: steps.append(s) or real_lr_factor(s, st, n)
    )
    assert main(args) == 0
    assert steps[0] == 10 and steps[-1] == 19
    assert load_sae(out).cfg.training_tokens == 20 * 64


@pytest.mark.slow
def test_two_gloo_processes_train_one_sae(trained, tmp_path):
    """torchrun with 2 CPU ranks: batches split by rank, gradients averaged, rank 0 saves."""
    import os
    import subprocess
    import sys

    _, _, store, _ = trained
    out = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "musae_core.cli",
        "train",
        "--store",
        str(store),
        "--layer",
        "2",
        "--expansion",
        "2",
        "--k",
        "4",
        "--tokens",
        "1280",
        "--batch-size",
        "32",
        "--device",
        "cpu",
        "--out",
        str(out),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("wrote") == 1  # only rank 0 writes
    sae = load_sae(out)
    assert sae.cfg.training_tokens == 1280  # --tokens counts rows over all ranks
    assert float(sae.max_activation.min()) >= 0 and torch.isfinite(sae.W_dec).all()


def test_beta_is_the_sae_s_own_with_or_without_its_feature_database(trained, tmp_path, capsys):
    """One beta: --features of the SAE's own database (identity recorded by analyze, so no
    warning) changes nothing; the sidecar names the SAE's max activation as the source."""
    _, _, store, sae = trained
    db_path = tmp_path / "features.db"
    assert (
        main(
            [
                "analyze",
                "--sae",
                str(sae),
                "--store",
                str(store),
                "--out",
                str(db_path),
                "--snippet-seconds",
                "0",
            ]
        )
        == 0
    )
    fid = int(load_sae(sae).max_activation.argmax())
    capsys.readouterr()
    _generate(
        tmp_path, "with.wav", "--sae", str(sae), "--features", str(db_path), "--steer", f"{fid}=1.5"
    )
    assert "warning" not in capsys.readouterr().err
    _generate(tmp_path, "without.wav", "--sae", str(sae), "--steer", f"{fid}=1.5")
    recipes = [
        json.loads((tmp_path / f"{name}.json").read_text())["steering"][0]
        for name in ("with", "without")
    ]
    expected = float(load_sae(sae).max_activation[fid])
    for recipe in recipes:
        assert recipe["beta"] == pytest.approx(expected) and expected > 0
        assert recipe["beta_source"] == "sae feature_stats max activation"


def test_live_training_from_the_model_without_a_store(trained, tmp_path):
    _, audio, _, _ = trained
    out = tmp_path / "live"
    assert (
        main(
            [
                "train",
                "--audio",
                str(audio),
                "--model",
                "tiny",
                "--layer",
                "2",
                "--expansion",
                "2",
                "--k",
                "2",
                "--tokens",
                "640",
                "--batch-size",
                "64",
                "--device",
                "cpu",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    sae = load_sae(out)
    assert sae.cfg.model_id == "tiny" and sae.cfg.layer == 2 and sae.cfg.training_tokens == 640
    assert not any(out.glob("*.tmp")) and not (out / "checkpoint.pt").exists()


def test_a_store_smaller_than_a_batch_trains_with_a_budget_sized_to_it(
    trained, tmp_path, capsys, monkeypatch
):
    """300 rows and the default --batch-size 4096 / no --tokens: one 300-row batch per pass,
    10 passes (3,000 rows), said at the start, with progress lines on a non-terminal stderr."""
    _, _, store, _ = trained
    monkeypatch.setenv("MUSAE_PROGRESS_SECONDS", "0")
    out = tmp_path / "sae"
    assert (
        main(
            [
                "train",
                "--store",
                str(store),
                "--layer",
                "2",
                "--expansion",
                "2",
                "--k",
                "2",
                "--device",
                "cpu",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert "the store has 300 rows, fewer than one batch of --batch-size 4,096" in err
    assert "training budget: 3,000 rows (10 passes over 300 rows" in err
    assert "musae: training 1/10 steps (10%)" in err and "musae: training 10/10 steps" in err
    assert load_sae(out).cfg.training_tokens == 3000  # was 10,000,000 rows (or no batch at all)


def test_train_refused_for_a_corrupt_store_leaves_no_out_folder(trained, tmp_path, capsys):
    _, _, store, _ = trained
    broken = tmp_path / "store"
    shutil.copytree(store, broken)
    for acts in (broken / "shards").glob("*/acts_L2.safetensors"):
        acts.write_bytes(b"not safetensors")
    out = tmp_path / "sae"
    assert (
        main(
            [
                "train",
                "--store",
                str(broken),
                "--layer",
                "2",
                "--expansion",
                "2",
                "--k",
                "2",
                "--batch-size",
                "64",
                "--device",
                "cpu",
                "--out",
                str(out),
            ]
        )
        == 2
    )
    assert "corrupt" in capsys.readouterr().err.lower()
    assert not out.exists()
