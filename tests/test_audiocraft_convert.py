"""audiocraft <-> transformers conversion: lossless tensors both ways, SAEs carry over, and (with
audiocraft importable) the converted model's residual stream matches the transformers model's."""

from __future__ import annotations

import argparse

import pytest
import torch

from musae_core.errors import MusaeError
from musae_core.models import convert_audiocraft as ca
from musae_core.models.audiocraft_backend import audiocraft_available
from musae_core.models.audiocraft_cfg import check_convertible_cfg
from musae_core.models.sampling import SamplingSettings

needs_audiocraft = pytest.mark.skipif(
    not audiocraft_available(),
    reason="audiocraft 1.3.0 is not importable here (scripts/install_audiocraft.sh installs it)",
)


def _lm_state(hf) -> dict[str, torch.Tensor]:
    state = {f"decoder.{k}": v for k, v in hf.decoder.state_dict().items()}
    state.update({f"enc_to_dec_proj.{k}": v for k, v in hf.enc_to_dec_proj.state_dict().items()})
    return state


def test_state_dict_round_trip_is_identical(tiny_model):
    hf = tiny_model.hf
    decoder = hf.decoder.state_dict()
    proj = hf.enc_to_dec_proj.state_dict()
    ac = ca.hf_to_audiocraft_lm(decoder, proj)
    d = hf.config.decoder.hidden_size
    fused = ac["transformer.layers.0.self_attn.in_proj_weight"]
    assert fused.shape == (3 * d, d)
    assert torch.equal(fused[d : 2 * d], decoder["model.decoder.layers.0.self_attn.k_proj.weight"])
    assert "transformer.layers.1.cross_attention.in_proj_weight" in ac
    assert "condition_provider.conditioners.description.output_proj.weight" in ac
    back_decoder, back_proj = ca.audiocraft_lm_to_hf(ac)
    expected = {k: v for k, v in decoder.items() if not k.endswith("embed_positions.weights")}
    assert back_decoder.keys() == expected.keys()
    assert all(torch.equal(back_decoder[k], expected[k]) for k in expected)
    assert all(torch.equal(back_proj[k], proj[k]) for k in proj)


def test_untranslatable_tensors_are_refused(tiny_model):
    hf = tiny_model.hf
    ac = ca.hf_to_audiocraft_lm(hf.decoder.state_dict(), hf.enc_to_dec_proj.state_dict())
    ac["transformer.layers.0.linear1.bias"] = torch.zeros(128)
    ac["transformer.layers.0.layer_scale_1.scale"] = torch.ones(64)
    with pytest.raises(MusaeError, match="losslessly"):
        ca.audiocraft_lm_to_hf(ac)
    with pytest.raises(MusaeError, match="losslessly"):
        check_convertible_cfg({"transformer_lm": {"norm_first": True, "bias_ff": True}})


def _convert_cli(argv: list[str]) -> int:
    from musae_core.models.convert_cli import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.func(args)


def test_folder_round_trip_through_the_cli(tmp_path, tiny_model):
    from transformers import MusicgenForConditionalGeneration

    src = tmp_path / "hf"
    tiny_model.hf.save_pretrained(src, safe_serialization=True)
    tiny_model.tokenizer.save_pretrained(src)
    assert (
        _convert_cli(
            ["convert", "--from", str(src), "--to", str(tmp_path / "ac"), "--t5-name", "t5-base"]
        )
        == 0
    )
    assert ca.is_audiocraft_checkpoint(tmp_path / "ac")
    _, cfg = ca.read_lm_package(tmp_path / "ac")
    assert (
        cfg["transformer_lm"]["dim"] == 64
        and cfg["conditioners"]["description"]["t5"]["name"] == "t5-base"
    )
    assert (tmp_path / "ac" / ca.HF_CODEC_SUBFOLDER / "config.json").is_file()
    assert (
        _convert_cli(
            [
                "convert",
                "--from",
                str(tmp_path / "ac"),
                "--to",
                str(tmp_path / "hf2"),
                "--base",
                str(src),
            ]
        )
        == 0
    )
    a = MusicgenForConditionalGeneration.from_pretrained(str(src))
    b = MusicgenForConditionalGeneration.from_pretrained(str(tmp_path / "hf2"))
    sa, sb = _lm_state(a), _lm_state(b)
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    with pytest.raises(MusaeError, match="already exists"):
        ca.convert(tmp_path / "ac", tmp_path / "hf2", base=src)


def test_sae_for_one_format_fits_the_other(tmp_path, tiny_model):
    """Same d_model and layer naming: an SAE made for the transformers model passes the
    compatibility check against the converted model, reading the same hook point."""
    from musae_core.models.base import hook_name
    from musae_core.sae.architectures import build_sae
    from musae_core.sae.config import SAEConfig
    from musae_core.sae.evaluate import check_compatible
    from musae_core.sae.io import load_sae, save_sae

    ca.hf_to_audiocraft(tiny_model.hf, tmp_path / "ac", t5_name="t5-base")
    _, cfg = ca.read_lm_package(tmp_path / "ac")
    sae = build_sae(SAEConfig("topk", d_in=64, d_sae=128, k=4, model_id="tiny", layer=2))
    save_sae(sae, tmp_path / "sae")
    loaded = load_sae(tmp_path / "sae")
    d_model, layers = cfg["transformer_lm"]["dim"], list(range(cfg["transformer_lm"]["num_layers"]))
    check_compatible(loaded, "tiny", layers, d_model, "the converted model")
    assert loaded.cfg.hook_name == hook_name(2)


@pytest.mark.skipif(audiocraft_available(), reason="audiocraft is importable here")
def test_loading_an_audiocraft_folder_without_audiocraft_explains(tmp_path, tiny_model):
    from musae_core.models.loading import load_model

    ca.hf_to_audiocraft(tiny_model.hf, tmp_path / "ac", t5_name="t5-base")
    with pytest.raises(MusaeError, match="install_audiocraft"):
        load_model(str(tmp_path / "ac"), device="cpu", dtype="fp32")


@needs_audiocraft
def test_converted_model_residuals_match_transformers(tiny_model):
    """The converted LM, run by audiocraft, gives the transformers model's residual stream."""
    from musae_core.models.audiocraft_twin import audiocraft_twin
    from musae_core.models.residual import capture_residual

    twin = audiocraft_twin(tiny_model)
    codes = torch.randint(
        0, tiny_model.codebook_size, (2, 4, 20), generator=torch.Generator().manual_seed(0)
    )
    layers = list(range(tiny_model.num_layers))
    with capture_residual(tiny_model, layers) as rec_hf:
        loss_hf = tiny_model.teacher_force(codes).loss
    with capture_residual(twin, layers) as rec_ac:
        loss_ac = twin.teacher_force(codes).loss
    for layer in layers:
        a, b = rec_hf.activations(layer), rec_ac.activations(layer)
        assert a.shape == b.shape == (2, 23, 64)
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(loss_ac, loss_hf, rtol=1e-5, atol=1e-5)
    from musae_core.models.base import GenerationRequest

    request = GenerationRequest(
        duration=0.3, sampling=SamplingSettings(temperature=0, cfg_scale=1.0)
    )
    assert (twin.generate(request).codes == tiny_model.generate(request).codes).all()
