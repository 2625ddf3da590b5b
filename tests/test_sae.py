"""SAE training and I/O: recovery of known directions, every architecture learns, resume,
SAELens-format round trips and clear errors for bad files or data."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from musae_core.errors import Cancelled, MusaeError
from musae_core.jobs import CancelToken
from musae_core.sae import REGISTRY, SAEConfig, build_sae, load_sae, save_sae
from musae_core.sae.evaluate import check_compatible, reconstruction_metrics
from musae_core.sae.trainer import CHECKPOINT, TrainSettings, train_sae

D_IN, N_TRUE, K_TRUE = 32, 128, 4


def ground_truth(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    dirs = torch.randn(N_TRUE, D_IN, generator=g)
    return dirs / dirs.norm(dim=1, keepdim=True)


def synthetic_factory(dirs: torch.Tensor, batch: int, batches: int, scale: float = 1.0, seed=0):
    """Rows that are sums of K_TRUE random ground-truth directions with positive magnitudes."""

    def factory(epoch: int):
        g = torch.Generator().manual_seed(seed * 1000 + epoch)
        for _ in range(batches):
            idx = torch.stack([torch.randperm(N_TRUE, generator=g)[:K_TRUE] for _ in range(batch)])
            mags = 0.5 + torch.rand(batch, K_TRUE, generator=g)
            codes = torch.zeros(batch, N_TRUE).scatter_(1, idx, mags)
            yield scale * (codes @ dirs + 0.01 * torch.randn(batch, D_IN, generator=g))

    return factory


def settings(**overrides) -> TrainSettings:
    base = dict(
        architecture="topk",
        expansion=8,
        k=K_TRUE,
        total_tokens=400 * 512,
        batch_size=512,
        lr=4e-3,
        checkpoint_every=50,
        init_rows=2048,
    )
    return TrainSettings(**{**base, **overrides})


def max_cosines(sae, dirs: torch.Tensor) -> torch.Tensor:
    return (dirs @ sae.W_dec.detach().T).max(dim=1).values


def test_topk_recovers_known_sparse_directions(tmp_path):
    dirs = ground_truth()
    sae = train_sae(synthetic_factory(dirs, 512, 50), D_IN, settings(), tmp_path / "sae")
    assert max_cosines(sae, dirs).mean() >= 0.9
    norms = sae.W_dec.detach().norm(dim=1)
    assert torch.allclose(norms, torch.ones_like(norms), atol=1e-4)


@pytest.mark.parametrize("arch", sorted(REGISTRY))
def test_every_architecture_learns_a_sparse_code(arch, tmp_path):
    dirs = ground_truth(1)
    factory = synthetic_factory(dirs, 256, 20, seed=1)
    extra = {}
    sae = train_sae(
        factory,
        D_IN,
        settings(architecture=arch, total_tokens=300 * 256, batch_size=256, **extra),
        tmp_path / arch,
    )
    untrained = build_sae(sae.cfg)
    untrained.load_state_dict({**sae.state_dict(), "W_enc": torch.zeros_like(sae.W_enc)})
    held_out = list(synthetic_factory(dirs, 256, 4, seed=2)(0))
    metrics = reconstruction_metrics(sae, held_out)
    assert metrics["fvu"] < 0.4, metrics
    assert metrics["l0"] < D_IN, metrics  # sparser than the input is dense
    assert reconstruction_metrics(untrained, held_out)["fvu"] > metrics["fvu"]
    loaded = load_sae(tmp_path / arch)
    x = held_out[0][:8]
    assert torch.allclose(loaded.encode(x), sae.encode(x), atol=1e-5)


def test_activation_scale_is_folded_back_to_raw_units(tmp_path):
    """Training on activations 1000x larger gives the same codes x1000 and unit decoder rows."""
    dirs = ground_truth(2)
    small = train_sae(
        synthetic_factory(dirs, 256, 20),
        D_IN,
        settings(total_tokens=60 * 256, batch_size=256),
        tmp_path / "a",
    )
    big = train_sae(
        synthetic_factory(dirs, 256, 20, scale=1000.0),
        D_IN,
        settings(total_tokens=60 * 256, batch_size=256),
        tmp_path / "b",
    )
    x = next(synthetic_factory(dirs, 64, 1, seed=5)(0))
    assert torch.allclose(big.encode(1000 * x) / 1000, small.encode(x), rtol=1e-3, atol=1e-3)
    assert torch.allclose(big.W_dec.norm(dim=1), torch.ones(big.cfg.d_sae), atol=1e-4)
    assert big.max_activation.max() > 100 * small.max_activation.max()


def test_cancel_then_resume_continues_the_step_count_and_matches(tmp_path):
    dirs = ground_truth(3)
    cfg = settings(total_tokens=120 * 256, batch_size=256, checkpoint_every=1000)
    straight = train_sae(synthetic_factory(dirs, 256, 30), D_IN, cfg, tmp_path / "straight")

    cancel, steps = CancelToken(), []

    def stop_at_50(done, total):
        steps.append(done)
        if done == 50:
            cancel.cancel()

    with pytest.raises(Cancelled):
        train_sae(
            synthetic_factory(dirs, 256, 30),
            D_IN,
            cfg,
            tmp_path / "resumed",
            progress=stop_at_50,
            cancel=cancel,
        )
    assert (tmp_path / "resumed" / CHECKPOINT).is_file()
    assert not (tmp_path / "resumed" / "sae_weights.safetensors").exists()
    resumed_steps = []
    resumed = train_sae(
        synthetic_factory(dirs, 256, 30),
        D_IN,
        cfg,
        tmp_path / "resumed",
        progress=lambda d, t: resumed_steps.append(d),
    )
    assert resumed_steps[0] == 50 and resumed_steps[-1] == 120
    assert not (tmp_path / "resumed" / CHECKPOINT).exists()
    assert resumed.cfg.training_tokens == straight.cfg.training_tokens == 120 * 256
    assert torch.allclose(resumed.W_dec, straight.W_dec, atol=1e-5)


def test_resume_with_other_settings_or_corrupt_checkpoint_is_refused(tmp_path):
    dirs = ground_truth(4)
    cfg = settings(total_tokens=40 * 256, batch_size=256, checkpoint_every=10)
    cancel = CancelToken()
    with pytest.raises(Cancelled):
        train_sae(
            synthetic_factory(dirs, 256, 30),
            D_IN,
            cfg,
            tmp_path / "s",
            progress=lambda d, t: cancel.cancel() if d == 12 else None,
            cancel=cancel,
        )
    with pytest.raises(MusaeError, match=r"other settings.*k"):
        train_sae(
            synthetic_factory(dirs, 256, 30),
            D_IN,
            settings(total_tokens=40 * 256, batch_size=256, checkpoint_every=10, k=8),
            tmp_path / "s",
        )
    checkpoint = tmp_path / "s" / CHECKPOINT
    checkpoint.write_bytes(checkpoint.read_bytes()[:500])
    with pytest.raises(MusaeError, match="truncated or corrupt"):
        train_sae(synthetic_factory(dirs, 256, 30), D_IN, cfg, tmp_path / "s")


def test_nonfinite_rows_are_skipped_and_counted(tmp_path):
    dirs = ground_truth(5)
    clean = synthetic_factory(dirs, 128, 10)

    def poisoned(epoch):
        for batch in clean(epoch):
            batch = batch.clone()
            batch[0, 0], batch[1, 3] = float("nan"), float("inf")
            yield batch

    sae = train_sae(
        poisoned,
        D_IN,
        settings(total_tokens=30 * 128, batch_size=128, init_rows=256),
        tmp_path / "p",
    )
    assert torch.isfinite(sae.W_dec).all() and torch.isfinite(sae.b_dec).all()
    assert sae.cfg.extra["skipped_nonfinite_rows"] == 2 * (30 + 2)  # training + init batches
    assert load_sae(tmp_path / "p").cfg.extra["skipped_nonfinite_rows"] == 64


def test_wrong_width_data_is_a_clear_error(tmp_path):
    with pytest.raises(MusaeError, match=r"shape \(8, 16\).*\(\*, 32\)"):
        train_sae(lambda e: iter([torch.zeros(8, 16)]), D_IN, settings(), tmp_path / "w")


def small_sae(arch: str = "topk") -> torch.nn.Module:
    torch.manual_seed(0)
    sae = build_sae(
        SAEConfig(
            arch, 8, 24, k=3 if arch in ("topk", "batchtopk") else None, model_id="tiny", layer=2
        )
    )
    for p in sae.parameters():
        p.data.normal_()
    sae.normalize_decoder()
    sae.max_activation.fill_(2.5)
    return sae


def test_saved_folder_is_saelens_format_and_round_trips(tmp_path):
    sae = small_sae()
    save_sae(sae, tmp_path / "sae", frequency=torch.full((24,), 0.01))
    cfg = json.loads((tmp_path / "sae" / "cfg.json").read_text())
    assert cfg["d_in"] == 8 and cfg["d_sae"] == 24 and cfg["architecture"] == "topk"
    assert cfg["hook_name"] == "blocks.2.hook_resid_post" and cfg["model_name"] == "tiny"
    assert cfg["musae"]["code_version"]
    loaded = load_sae(tmp_path / "sae")
    x = torch.randn(5, 8)
    assert torch.allclose(loaded(x), sae(x), atol=1e-6)
    assert float(loaded.max_activation[0]) == 2.5


def test_loads_a_hand_written_saelens_jumprelu_folder(tmp_path):
    folder = tmp_path / "jr"
    folder.mkdir()
    cfg = {
        "architecture": "jumprelu",
        "d_in": 4,
        "d_sae": 3,
        "model_name": "tiny",
        "hook_name": "blocks.1.hook_resid_post",
        "dtype": "float32",
    }
    (folder / "cfg.json").write_text(json.dumps(cfg))
    save_file(
        {
            "W_enc": torch.eye(4)[:, :3].contiguous(),
            "b_enc": torch.zeros(3),
            "W_dec": torch.eye(4)[:3].contiguous(),
            "b_dec": torch.zeros(4),
            "threshold": torch.tensor([0.5, 0.5, 2.0]),
        },
        str(folder / "sae_weights.safetensors"),
    )
    sae = load_sae(folder)
    assert sae.cfg.architecture == "jumprelu" and sae.cfg.layer == 1
    codes = sae.encode(torch.tensor([[1.0, 0.2, 1.0, 7.0]]))
    assert codes.tolist() == [[1.0, 0.0, 0.0]]  # below-threshold features are zero


def test_broken_sae_folders_name_the_file(tmp_path):
    sae = small_sae()
    save_sae(sae, tmp_path / "s")
    weights = tmp_path / "s" / "sae_weights.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(MusaeError, match=r"sae_weights.safetensors.*truncated"):
        load_sae(tmp_path / "s")
    cfg_path = tmp_path / "s" / "cfg.json"
    save_sae(sae, tmp_path / "s")
    cfg = json.loads(cfg_path.read_text())
    cfg["d_in"] = 9
    cfg_path.write_text(json.dumps(cfg))
    with pytest.raises(MusaeError, match="W_enc has shape"):
        load_sae(tmp_path / "s")
    with pytest.raises(MusaeError, match="not an SAE folder"):
        load_sae(tmp_path)
    bad = small_sae()
    bad.W_dec.data[0, 0] = float("nan")
    save_sae(bad, tmp_path / "nan")
    with pytest.raises(MusaeError, match="NaN"):
        load_sae(tmp_path / "nan")


def test_mismatched_model_or_layer_is_refused():
    sae = small_sae()
    with pytest.raises(MusaeError, match=r"d_in=8.*d_model=16"):
        check_compatible(sae, "tiny", [2], 16, "store s")
    with pytest.raises(MusaeError, match="layer 2"):
        check_compatible(sae, "tiny", [0, 1], 8, "store s")
    with pytest.raises(MusaeError, match="'other'"):
        check_compatible(sae, "other", [2], 8, "store s")
