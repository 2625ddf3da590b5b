"""SAELens folders (issue 20, item 4): the 6.x layout (hook and model under ``metadata``) and
the older one load at the right layer, ``apply_b_dec_to_input`` is honoured, and what musae
does not implement is refused by name.

The folders are hand-written in the layout SAELens 6.54 ``SAE.save_model`` writes
(``cfg.to_dict()`` + the state dict), and the expected outputs follow its encode/decode
(``process_sae_in``, TopK ``rescale_acts_by_decoder_norm``). sae-lens itself needs
transformer-lens, datasets and wandb, too much for musae's environment: the last test uses it
when it is installed and is skipped otherwise.
"""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from musae_core.errors import MusaeError
from musae_core.sae import load_sae, save_sae
from musae_core.sae.evaluate import check_compatible

D_IN, D_SAE = 8, 16


def saelens6_cfg(architecture="standard", **top) -> dict:
    """What SAELens 6 ``save_model`` writes to cfg.json."""
    cfg = {
        "d_in": D_IN,
        "d_sae": D_SAE,
        "dtype": "float32",
        "device": "cpu",
        "apply_b_dec_to_input": True,
        "normalize_activations": "none",
        "reshape_activations": "none",
        "metadata": {
            "sae_lens_version": "6.54.12",
            "sae_lens_training_version": "6.54.12",
            "model_name": "facebook/musicgen-small",
            "hook_name": "blocks.5.hook_resid_post",
            "hook_head_index": None,
            "prepend_bos": True,
            "dataset_path": "some/dataset",
            "context_size": 128,
        },
        "architecture": architecture,
    }
    cfg.update(top)
    return cfg


def weights(seed=0, decoder_scale=1.0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    W_dec = torch.randn(D_SAE, D_IN, generator=g)
    W_dec = decoder_scale * W_dec / W_dec.norm(dim=1, keepdim=True)
    return {
        "W_enc": torch.randn(D_IN, D_SAE, generator=g),
        "b_enc": 0.1 * torch.randn(D_SAE, generator=g),
        "W_dec": W_dec,
        "b_dec": 2.0 * torch.randn(D_IN, generator=g),  # large, so the flag matters
    }


def write_folder(path, cfg, state):
    path.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(path / "sae_weights.safetensors"))
    (path / "cfg.json").write_text(json.dumps(cfg))
    return path


def saelens_forward(x, state, apply_b_dec=True, k=None, rescale=False):
    """SAELens 6's StandardSAE / TopKSAE forward, written out from its source."""
    sae_in = x - state["b_dec"] * apply_b_dec
    pre = sae_in @ state["W_enc"] + state["b_enc"]
    norms = state["W_dec"].norm(dim=-1)
    if rescale:
        pre = pre * norms
    if k is None:
        acts = torch.relu(pre)
    else:
        values, idx = pre.topk(k, dim=-1)
        acts = torch.zeros_like(pre).scatter(-1, idx, values.relu())
    if rescale:
        acts = acts / norms
    return acts @ state["W_dec"] + state["b_dec"]


def rel_error(a, b) -> float:
    return float((a - b).norm() / b.norm())


def test_saelens6_folder_reads_hook_and_model_from_metadata_and_honours_b_dec_flag(tmp_path):
    state = weights()
    cfg = saelens6_cfg(apply_b_dec_to_input=False)
    sae = load_sae(write_folder(tmp_path / "sl6", cfg, state))
    assert (sae.cfg.layer, sae.cfg.model_id) == (5, "facebook/musicgen-small")
    x = torch.randn(64, D_IN, generator=torch.Generator().manual_seed(1))
    expected = saelens_forward(x, state, apply_b_dec=False)
    assert rel_error(sae(x).detach(), expected) < 1e-5
    # what ignoring the flag gave: far off (the issue saw 20 % on real activations)
    assert rel_error(saelens_forward(x, state, apply_b_dec=True), expected) > 0.05
    # and musae writes the flag back, so a round trip keeps the behaviour
    save_sae(sae, tmp_path / "again")
    written = json.loads((tmp_path / "again" / "cfg.json").read_text())
    assert written["apply_b_dec_to_input"] is False
    assert written["metadata"]["hook_name"] == "blocks.5.hook_resid_post"
    assert rel_error(load_sae(tmp_path / "again")(x).detach(), expected) < 1e-5
    with pytest.raises(MusaeError, match="facebook/musicgen-small"):
        check_compatible(sae, "tiny", list(range(8)), D_IN, "the model")


def test_older_saelens_layout_topk_on_hook_resid_pre(tmp_path):
    state = weights(seed=2)
    cfg = {
        "architecture": "standard",
        "d_in": D_IN,
        "d_sae": D_SAE,
        "model_name": "facebook/musicgen-small",
        "hook_point": "blocks.3.hook_resid_pre",  # SAELens < 4 key; the input of block 3
        "hook_point_layer": 3,
        "activation_fn_str": "topk",
        "activation_fn_kwargs": {"k": 3},
        "normalize_activations": False,
    }
    sae = load_sae(write_folder(tmp_path / "old", cfg, state))
    assert (sae.cfg.architecture, sae.cfg.k, sae.cfg.layer) == ("topk", 3, 2)
    x = torch.randn(32, D_IN)
    assert rel_error(sae(x).detach(), saelens_forward(x, state, k=3)) < 1e-5


def test_saelens_topk_with_decoder_norm_rescaling_is_folded_exactly(tmp_path):
    state = weights(seed=3, decoder_scale=3.0)
    cfg = saelens6_cfg("topk", k=4, rescale_acts_by_decoder_norm=True)
    sae = load_sae(write_folder(tmp_path / "topk", cfg, state))
    x = torch.randn(32, D_IN)
    assert rel_error(sae(x).detach(), saelens_forward(x, state, k=4, rescale=True)) < 1e-5
    assert torch.allclose(sae.W_dec.norm(dim=1), torch.ones(D_SAE), atol=1e-5)


def test_saelens_batchtopk_training_folder_keeps_its_threshold(tmp_path):
    """A BatchTopK TrainingSAE saved by SAELens: its topk_threshold becomes musae's inference
    threshold (what SAELens turns it into when it exports the inference SAE)."""
    state = {**weights(seed=4, decoder_scale=2.0), "topk_threshold": torch.tensor(1.5)}
    cfg = saelens6_cfg("batchtopk", k=4.0, rescale_acts_by_decoder_norm=True)
    sae = load_sae(write_folder(tmp_path / "btk", cfg, state))
    assert sae.cfg.architecture == "batchtopk" and float(sae.threshold) == 1.5
    x = torch.randn(32, D_IN)
    norms = state["W_dec"].norm(dim=-1)
    pre = ((x - state["b_dec"]) @ state["W_enc"] + state["b_enc"]) * norms
    expected = (pre * (pre > 1.5)) / norms @ state["W_dec"] + state["b_dec"]
    assert rel_error(sae(x).detach(), expected) < 1e-5


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"architecture": "gated"}, r"architecture 'gated' is not implemented"),
        ({"architecture": "matching_pursuit"}, r"'matching_pursuit' is not implemented"),
        ({"metadata": {"hook_name": "blocks.2.hook_mlp_out"}}, r"'blocks.2.hook_mlp_out'"),
        ({"metadata": {"hook_name": "blocks.0.hook_resid_pre"}}, r"not one musae can map"),
        ({"metadata": {"model_name": "m"}}, r"names no hook point"),
        ({"normalize_activations": "layer_norm"}, r"normalize_activations is 'layer_norm'"),
        ({"reshape_activations": "hook_z"}, r"attention heads"),
    ],
)
def test_what_musae_cannot_run_is_refused_by_name(tmp_path, change, message):
    cfg = saelens6_cfg()
    cfg.update(change)
    folder = write_folder(tmp_path / "x", cfg, weights())
    with pytest.raises(MusaeError, match=message) as info:
        load_sae(folder)
    assert "cfg.json" in str(info.value) and "Fix:" in str(info.value)


def test_folders_written_by_the_real_sae_lens_package(tmp_path):
    """Optional: with sae-lens installed, its own save_model folders load here with its outputs,
    and musae's folders load in SAELens with musae's (checked against sae-lens 6.54.12)."""
    sae_lens = pytest.importorskip("sae_lens")
    from sae_lens.saes.sae import SAEMetadata

    from musae_core.sae import SAEConfig, build_sae

    def meta():
        return SAEMetadata(
            model_name="facebook/musicgen-small", hook_name="blocks.5.hook_resid_post"
        )

    torch.manual_seed(0)
    theirs = {
        "standard": sae_lens.StandardSAE(
            sae_lens.StandardSAEConfig(D_IN, D_SAE, apply_b_dec_to_input=False, metadata=meta())
        ),
        "topk": sae_lens.TopKSAE(
            sae_lens.TopKSAEConfig(
                D_IN, D_SAE, k=4, rescale_acts_by_decoder_norm=True, metadata=meta()
            )
        ),
        "jumprelu": sae_lens.JumpReLUSAE(sae_lens.JumpReLUSAEConfig(D_IN, D_SAE, metadata=meta())),
    }
    x = 2 * torch.randn(64, D_IN)
    for name, sae in theirs.items():
        with torch.no_grad():  # random weights, decoder rows far from unit norm
            for param_name, param in sae.named_parameters():
                values = (
                    torch.rand_like(param) if param_name == "threshold" else torch.randn_like(param)
                )
                param.copy_(values * (3.0 if param_name == "W_dec" else 1.0))
        sae.save_model(tmp_path / name)
        mine = load_sae(tmp_path / name)
        assert (mine.cfg.layer, mine.cfg.model_id) == (5, "facebook/musicgen-small")
        with torch.no_grad():
            assert rel_error(mine(x), sae(x)) < 1e-5, name
    gated = sae_lens.GatedSAE(sae_lens.GatedSAEConfig(D_IN, D_SAE, metadata=meta()))
    gated.save_model(tmp_path / "gated")
    with pytest.raises(MusaeError, match="'gated' is not implemented"):
        load_sae(tmp_path / "gated")
    ours = build_sae(SAEConfig("topk", D_IN, D_SAE, k=4, model_id="tiny", layer=3))
    with torch.no_grad():
        for param in ours.parameters():
            param.copy_(torch.randn_like(param))
        ours.normalize_decoder()
    save_sae(ours, tmp_path / "ours")
    loaded = sae_lens.SAE.load_from_disk(str(tmp_path / "ours"))
    assert loaded.cfg.metadata.hook_name == "blocks.3.hook_resid_post"
    with torch.no_grad():
        assert rel_error(loaded(x), ours(x)) < 1e-5


@pytest.mark.parametrize("architecture", ["batchtopk", "matryoshka_batchtopk"])
def test_calibrated_batchtopk_is_written_as_the_jumprelu_it_runs_as(tmp_path, architecture):
    """SAELens exports a trained BatchTopK as a JumpReLU (one threshold per latent); read as
    "topk" it would keep k latents per frame and ignore the threshold."""
    from musae_core.sae import SAEConfig, build_sae

    ours = build_sae(SAEConfig(architecture, D_IN, D_SAE, k=4, model_id="tiny", layer=3))
    with torch.no_grad():
        for name, tensor in weights(seed=5).items():
            getattr(ours, name).copy_(tensor)
        ours.threshold.fill_(0.7)
    x = 2 * torch.randn(64, D_IN, generator=torch.Generator().manual_seed(6))
    save_sae(ours, tmp_path / "ours")
    cfg = json.loads((tmp_path / "ours" / "cfg.json").read_text())
    assert cfg["architecture"] == "jumprelu" and "k" not in cfg
    back = load_sae(tmp_path / "ours")  # musae reads its own block: same SAE
    assert (back.cfg.architecture, back.cfg.k) == (architecture, 4)
    assert float(back.threshold) == pytest.approx(0.7)
    assert rel_error(back(x).detach(), ours(x).detach()) < 1e-6
    del cfg["musae"]  # what any SAELens reader sees
    (tmp_path / "ours" / "cfg.json").write_text(json.dumps(cfg))
    (tmp_path / "ours" / "feature_stats.safetensors").unlink()
    plain = load_sae(tmp_path / "ours")
    assert plain.cfg.architecture == "jumprelu"
    expected = ours(x).detach()
    assert rel_error(plain(x).detach(), expected) < 1e-6
    # before: "topk" with k 4, which fires 4 latents per frame whatever the threshold says
    fired = (ours.encode(x) > 0).sum(-1).float().mean()
    assert abs(float(fired) - 4) > 0.5
    uncalibrated = build_sae(SAEConfig(architecture, D_IN, D_SAE, k=4, layer=3))
    save_sae(uncalibrated, tmp_path / "raw")  # no threshold yet: per-frame TopK, written so
    assert json.loads((tmp_path / "raw" / "cfg.json").read_text())["architecture"] == "topk"
