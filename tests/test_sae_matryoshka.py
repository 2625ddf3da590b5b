"""Matryoshka BatchTopK: every nested prefix of the dictionary reconstructs on its own, and the
SAE round-trips as a SAELens folder with its architecture name and widths."""

from __future__ import annotations

import json

import torch

from musae_core.sae import load_sae
from musae_core.sae.trainer import TrainSettings, train_sae

D_IN = 32


def _factory(batches: int, seed: int = 0):
    """Rows = one of 8 frequent directions (large) + two of 120 rare ones (small)."""
    g = torch.Generator().manual_seed(99)
    dirs = torch.nn.functional.normalize(torch.randn(128, D_IN, generator=g), dim=1)

    def factory(epoch: int):
        g = torch.Generator().manual_seed(seed * 1000 + epoch)
        for _ in range(batches):
            common = torch.randint(0, 8, (256,), generator=g)
            rare = 8 + torch.randint(0, 120, (256, 2), generator=g)
            x = 2.0 * dirs[common] + 0.5 * dirs[rare].sum(1)
            yield x + 0.01 * torch.randn(256, D_IN, generator=g)

    return factory


@torch.no_grad()
def _prefix_fvu(sae, x: torch.Tensor, width: int) -> float:
    f = sae.encode(x)
    x_hat = f[:, :width] @ sae.W_dec[:width] + sae.b_dec
    return float((x - x_hat).pow(2).sum() / (x - x.mean(0)).pow(2).sum())


def test_matryoshka_prefixes_reconstruct_where_batchtopk_prefixes_do_not(tmp_path):
    held_out = torch.cat(list(_factory(4, seed=7)(0)))
    results = {}
    for arch in ("batchtopk", "matryoshka_batchtopk"):
        settings = TrainSettings(
            architecture=arch,
            expansion=8,
            k=3,
            total_tokens=150 * 256,
            batch_size=256,
            lr=4e-3,
            init_rows=2048,
        )
        sae = train_sae(_factory(20), D_IN, settings, tmp_path / arch)
        results[arch] = (_prefix_fvu(sae, held_out, 16), _prefix_fvu(sae, held_out, 256))
    (m_prefix, m_full), (b_prefix, _) = results["matryoshka_batchtopk"], results["batchtopk"]
    assert m_prefix < 0.5 * b_prefix, results  # the first 16 latents carry the common part
    assert m_full < 0.3, results  # and the whole dictionary still reconstructs


def test_matryoshka_round_trips_as_a_saelens_folder(tmp_path):
    settings = TrainSettings(
        architecture="matryoshka_batchtopk",
        expansion=4,
        k=3,
        total_tokens=20 * 256,
        batch_size=256,
        init_rows=512,
    )
    sae = train_sae(_factory(5), D_IN, settings, tmp_path / "sae")
    cfg = json.loads((tmp_path / "sae" / "cfg.json").read_text())
    assert cfg["musae"]["architecture"] == "matryoshka_batchtopk"
    assert cfg["matryoshka_widths"] == [8, 16, 32, 64, 128]
    loaded = load_sae(tmp_path / "sae")
    assert type(loaded).__name__ == "MatryoshkaBatchTopKSAE" and loaded.widths == sae.widths
    x = next(_factory(1, seed=3)(0))
    assert torch.equal(loaded.encode(x) > 0, sae.encode(x) > 0)
    assert float(loaded.threshold) > 0  # inference uses the learned BatchTopK threshold


def test_batchtopk_inference_fires_k_per_frame_after_a_short_run(tmp_path):
    """The inference threshold is calibrated on the trained weights: a running average over
    the whole run kept the early, larger cutoffs (40 steps at k 8 gave L0 0.9; a sweep cell's
    73 steps at k 32 gave L0 4.3 and 1.7)."""
    held_out = torch.cat(list(_factory(4, seed=7)(0)))
    for arch in ("batchtopk", "matryoshka_batchtopk"):
        settings = TrainSettings(
            architecture=arch,
            expansion=8,
            k=8,
            total_tokens=40 * 256,
            batch_size=256,
            init_rows=2048,
        )
        sae = train_sae(_factory(20), D_IN, settings, tmp_path / arch)
        with torch.no_grad():
            l0 = float((sae.encode(held_out) > 0).sum(1).float().mean())
        assert 6 <= l0 <= 10, (arch, l0)


def test_chosen_widths_are_trained_and_named_in_a_sweep(tmp_path):
    """`--matryoshka-widths 8,24`: the SAE's nested sizes are those (plus d_sae), the first
    group alone carries the 8 common directions, and a sweep cell's name says which widths."""
    import pytest

    from musae_core.errors import MusaeError
    from musae_core.features.sweep import SweepSpec
    from musae_core.sae.cli import parse_widths

    settings = TrainSettings(
        architecture="matryoshka_batchtopk",
        expansion=8,
        k=3,
        total_tokens=150 * 256,
        batch_size=256,
        lr=4e-3,
        init_rows=2048,
        matryoshka_widths=parse_widths("8,24"),
    )
    sae = train_sae(_factory(20), D_IN, settings, tmp_path / "sae")
    assert load_sae(tmp_path / "sae").widths == sae.widths == [8, 24, 256]
    assert _prefix_fvu(sae, torch.cat(list(_factory(4, seed=7)(0))), 8) < 0.35
    spec = SweepSpec(layers=[2], architectures=["topk", "matryoshka_batchtopk"])
    spec.matryoshka_widths = [8, 24]
    assert [c["name"] for c in spec.cells()] == [
        "L2-x16-topk-k32",
        "L2-x16-matryoshka_batchtopk-k32-w8.24",
    ]
    with pytest.raises(MusaeError, match="not a list of sizes"):
        parse_widths("8,a")
