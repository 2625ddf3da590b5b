"""Exact architectures of the public MusicGen checkpoints, for random-weight timing runs.

Random weights time the same as trained ones, so benchmarks build these offline instead of
downloading gigabytes. Values follow the facebook/musicgen-* config.json files.
"""

from __future__ import annotations

from typing import Any

from transformers import EncodecConfig, MusicgenConfig, MusicgenDecoderConfig, T5Config

# keyword arguments of the configs (Any: the config classes type each argument differently)
_DECODERS: dict[str, dict[str, Any]] = {
    "small": {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16},
    "medium": {"hidden_size": 1536, "num_hidden_layers": 48, "num_attention_heads": 24},
    "large": {"hidden_size": 2048, "num_hidden_layers": 48, "num_attention_heads": 32},
}
_TEXT: dict[str, dict[str, Any]] = {
    "small": {"d_model": 768, "d_ff": 3072, "num_layers": 12, "num_heads": 12},  # t5-base
    "medium": {"d_model": 1024, "d_ff": 4096, "num_layers": 24, "num_heads": 16},  # t5-large
    "large": {"d_model": 1024, "d_ff": 4096, "num_layers": 24, "num_heads": 16},
}


def musicgen_reference_config(size: str) -> MusicgenConfig:
    """The MusicgenConfig of facebook/musicgen-{size} (mono)."""
    if size not in _DECODERS:
        raise ValueError(f"size must be one of {sorted(_DECODERS)}")
    dec = _DECODERS[size]
    decoder = MusicgenDecoderConfig(
        vocab_size=2048,
        num_codebooks=4,
        ffn_dim=4 * dec["hidden_size"],
        max_position_embeddings=2048,
        pad_token_id=2048,
        bos_token_id=2048,
        **dec,
    )
    text = T5Config(vocab_size=32128, d_kv=64, **_TEXT[size])
    codec = EncodecConfig(
        sampling_rate=32_000,
        audio_channels=1,
        num_filters=64,
        hidden_size=128,
        codebook_size=2048,
        upsampling_ratios=[8, 5, 4, 4],
        target_bandwidths=[2.2],
        num_lstm_layers=2,
        residual_kernel_size=3,
        use_causal_conv=False,
        normalize=False,
        pad_mode="reflect",
        norm_type="weight_norm",
        chunk_length_s=None,
        overlap=None,
        compress=2,
        trim_right_ratio=1.0,
        last_kernel_size=7,
        kernel_size=7,
        dilation_growth_rate=2,
        num_residual_layers=1,
    )
    return MusicgenConfig(text_encoder=text, audio_encoder=codec, decoder=decoder)
