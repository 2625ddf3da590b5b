"""Run a transformers MusicGen's converted LM through audiocraft: the check that conversion is
lossless in function, not only in tensors (used by tests and by ``docs/audiocraft.md``'s recipe).

The LM goes through ``hf_to_audiocraft_lm`` and audiocraft's own builders; the text condition is a
stand-in ``LUTConditioner`` of the T5's width (a real T5 would need the hub), which gives the
same null condition, so unconditional passes must match to fp32 precision. The codec is the
transformers Encodec wrapped in audiocraft's ``HFEncodecCompressionModel``.
"""

from __future__ import annotations

from musae_core.models.audiocraft_backend import AudiocraftMusicGen, require_audiocraft
from musae_core.models.audiocraft_cfg import audiocraft_cfg_from_hf
from musae_core.models.convert_audiocraft import hf_to_audiocraft_lm
from musae_core.models.musicgen_hf import TransformersMusicGen


def audiocraft_twin(model: TransformersMusicGen) -> AudiocraftMusicGen:
    """An ``AudiocraftMusicGen`` holding ``model``'s LM weights after conversion."""
    require_audiocraft()
    from audiocraft.models import builders
    from audiocraft.models.encodec import HFEncodecCompressionModel
    from omegaconf import OmegaConf

    hf = model.hf
    config = hf.config
    cfg = audiocraft_cfg_from_hf(
        config.decoder, "t5-base", model.sample_rate, model.frame_rate, model.max_duration
    )
    width = config.text_encoder.hidden_size
    cfg["conditioners"]["description"] = {
        "model": "lut", "lut": {"n_bins": 2, "dim": width, "tokenizer": "noop"},
    }  # fmt: skip
    cfg.pop("musae")
    lm = builders.get_lm_model(OmegaConf.create(cfg))
    state = hf_to_audiocraft_lm(hf.decoder.state_dict(), hf.enc_to_dec_proj.state_dict())
    missing, unexpected = lm.load_state_dict(state, strict=False)
    stand_in = ["condition_provider.conditioners.description.embed.weight"]
    if missing != stand_in or unexpected:
        raise RuntimeError(f"conversion mismatch: missing {missing}, unexpected {unexpected}")
    codec = HFEncodecCompressionModel(hf.audio_encoder)
    lm = lm.to(model.device, model.dtype).eval()
    return AudiocraftMusicGen(lm, codec, model.model_id + "@audiocraft", model.max_duration)
