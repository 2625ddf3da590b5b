"""Assemble the demo model as a real transformers MusicGen folder (safetensors + tokenizer).

Text encoder: a small T5 over the byte-level tokenizer of ``models/tiny.py`` (trained jointly
with the decoder). Audio encoder: the semitone codec
(``models/semitone_codec.py``, model type ``musae_demo_codec``). Decoder: a small
MusicGen decoder over the codec's delayed codebooks. ``load_model(folder)`` then runs it through
``TransformersMusicGen`` like any facebook/musicgen-* checkpoint (``load_model`` registers the
semitone codec with transformers' Auto classes when a folder's config names it).
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import (
    MusicgenConfig,
    MusicgenDecoderConfig,
    MusicgenForConditionalGeneration,
    T5Config,
)

from musae_core.demo.tokenizer import demo_tokenizer
from musae_core.models import semitone_codec
from musae_core.models.hf_quiet import quiet_musicgen_config_check
from musae_core.models.loading import SHIPPED_MODELS
from musae_core.models.semitone_codec import SemitoneCodecConfig, SemitoneCodecModel

quiet_musicgen_config_check()  # pad/bos = codebook_size is MusicGen's own layout, not an error

MAX_SECONDS = 30


DEMO_MODEL_DIR = SHIPPED_MODELS["demo"]  # resources/demo/model: ``load_model("demo")``


@dataclass
class LMShape:
    """Sizes of the demo model's text encoder and decoder (sized for a shared 2-core CPU)."""

    hidden_size: int = 192
    num_layers: int = 4
    num_heads: int = 6
    ffn_dim: int = 768
    text_layers: int = 2
    text_ff: int = 256
    text_heads: int = 4


def demo_config(codec_config: SemitoneCodecConfig, shape: LMShape) -> MusicgenConfig:
    semitone_codec.register()  # MusicgenConfig looks the audio encoder up in AutoConfig
    text = T5Config(
        vocab_size=len(demo_tokenizer()),
        d_model=shape.hidden_size,
        d_kv=shape.hidden_size // shape.text_heads,
        d_ff=shape.text_ff,
        num_layers=shape.text_layers,
        num_heads=shape.text_heads,
        pad_token_id=0,
        eos_token_id=1,
        dropout_rate=0.0,
    )
    frame_rate = codec_config.frame_rate
    decoder = MusicgenDecoderConfig(
        vocab_size=codec_config.codebook_size,
        num_codebooks=codec_config.num_quantizers,
        audio_channels=1,
        hidden_size=shape.hidden_size,
        ffn_dim=shape.ffn_dim,
        num_hidden_layers=shape.num_layers,
        num_attention_heads=shape.num_heads,
        max_position_embeddings=int(MAX_SECONDS * frame_rate) + 16,
        pad_token_id=codec_config.codebook_size,
        bos_token_id=codec_config.codebook_size,
        dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
    )
    return MusicgenConfig(text_encoder=text, audio_encoder=codec_config, decoder=decoder)


def set_generation_defaults(model: MusicgenForConditionalGeneration) -> None:
    config: Any = model.config  # a MusicgenConfig (transformers types it as the base config)
    dec = config.decoder
    gen = model.generation_config
    gen.pad_token_id = dec.pad_token_id
    gen.bos_token_id = dec.bos_token_id
    gen.decoder_start_token_id = dec.bos_token_id
    gen.max_length = int(MAX_SECONDS * config.audio_encoder.frame_rate)
    gen.do_sample = True
    gen.guidance_scale = 3.0
    gen.top_k = 250


def build_demo_musicgen(
    codec: SemitoneCodecModel, shape: LMShape, seed: int = 0
) -> MusicgenForConditionalGeneration:
    """A fresh (untrained LM) MusicGen around a trained ``codec``."""
    torch.manual_seed(seed)
    model = MusicgenForConditionalGeneration(demo_config(codec.config, shape))
    model.audio_encoder.load_state_dict(codec.state_dict())
    set_generation_defaults(model)
    return model


def save_demo_model(
    model: MusicgenForConditionalGeneration, folder: str | Path, extra: dict | None = None
) -> Path:
    """Write the folder atomically (a sibling temp folder renamed into place)."""
    import json

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / f".{folder.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    demo_tokenizer().save_pretrained(tmp)
    if extra is not None:
        (tmp / "musae_demo.json").write_text(json.dumps(extra, indent=2, default=str) + "\n")
    old = folder.parent / f".{folder.name}.old"
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    tmp.rename(folder)
    shutil.rmtree(old, ignore_errors=True)
    return folder


def shape_dict(shape: LMShape) -> dict:
    return asdict(shape)
