"""A tiny MusicGen built offline with transformers' own classes (audiocraft's "debug model" idea).

Same architecture, delay pattern, codec and text conditioning as ``facebook/musicgen-*``, at a
size where every test runs on a CPU in seconds. Weights are random but fixed by ``seed``; the
codec's codebooks are filled so different tokens decode to different sounds.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import (
    EncodecConfig,
    MusicgenConfig,
    MusicgenDecoderConfig,
    MusicgenForConditionalGeneration,
    PreTrainedTokenizerFast,
    T5Config,
)

TINY_SAMPLE_RATE = 32_000
TINY_CODEBOOK_SIZE = 256
TINY_NUM_CODEBOOKS = 4
TINY_MAX_SECONDS = 30


def tiny_tokenizer() -> PreTrainedTokenizerFast:
    """A byte-level tokenizer (every UTF-8 byte a token), so any prompt encodes offline."""
    specials = ["<pad>", "</s>", "<unk>"]
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {tok: i for i, tok in enumerate(specials + sorted(alphabet))}
    core = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    core.post_processor = processors.TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", vocab["</s>"])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )


def tiny_config(num_layers: int = 4, hidden_size: int = 64, stereo: bool = False) -> MusicgenConfig:
    """A MusicGen config with musicgen's structure at toy width (50 Hz frames, 4 codebooks per
    channel; stereo interleaves left/right codebooks like musicgen-stereo)."""
    text = T5Config(
        vocab_size=len(tiny_tokenizer()),
        d_model=32,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_heads=4,
        pad_token_id=0,
        eos_token_id=1,
    )
    bandwidth = TINY_NUM_CODEBOOKS * 50 * 8 / 1000  # codebooks * frame_rate * log2(256) bits
    codec = EncodecConfig(
        sampling_rate=TINY_SAMPLE_RATE,
        audio_channels=1,
        num_filters=4,
        hidden_size=32,
        codebook_dim=32,
        codebook_size=TINY_CODEBOOK_SIZE,
        upsampling_ratios=[8, 8, 10],
        target_bandwidths=[bandwidth],
        chunk_length_s=None,
        overlap=None,
        num_lstm_layers=1,
    )
    decoder = MusicgenDecoderConfig(
        vocab_size=TINY_CODEBOOK_SIZE,
        num_codebooks=TINY_NUM_CODEBOOKS * (2 if stereo else 1),
        audio_channels=2 if stereo else 1,
        hidden_size=hidden_size,
        ffn_dim=hidden_size * 2,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        max_position_embeddings=TINY_MAX_SECONDS * 50 + 16,
        pad_token_id=TINY_CODEBOOK_SIZE,
        bos_token_id=TINY_CODEBOOK_SIZE,
    )
    return MusicgenConfig(text_encoder=text, audio_encoder=codec, decoder=decoder)


def build_tiny_musicgen(
    seed: int = 0, stereo: bool = False
) -> tuple[MusicgenForConditionalGeneration, PreTrainedTokenizerFast]:
    """Build the tiny model and its tokenizer; the same seed gives the same weights."""
    generator_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        model = MusicgenForConditionalGeneration(tiny_config(stereo=stereo))
        _fill_codebooks(model)
    finally:
        torch.random.set_rng_state(generator_state)
    _set_generation_defaults(model)
    return model.eval(), tiny_tokenizer()


def _fill_codebooks(model) -> None:
    """Seed every residual codebook with encoder outputs of varied probe sounds (k-means style
    initialisation), so different audio maps to different codes; random vectors at the wrong
    scale would send every frame to the same entry."""
    rate = model.config.audio_encoder.sampling_rate
    t = torch.arange(rate) / rate
    freqs = 55.0 * 2 ** (torch.rand(96, 1) * 7)  # 55 Hz .. 7 kHz
    amps = 10 ** (-2 * torch.rand(96, 1))
    probes = amps * torch.sin(2 * torch.pi * freqs * t) + 0.05 * torch.rand(96, 1) * torch.randn(
        96, rate
    )
    with torch.no_grad():
        hidden = model.audio_encoder.encoder(probes[:, None])  # (probes, dim, frames)
        residual = hidden.transpose(1, 2).reshape(-1, hidden.shape[1])
        for layer in model.audio_encoder.quantizer.layers:
            book = layer.codebook
            rows = torch.randperm(len(residual))[: book.embed.shape[0]]
            book.embed.copy_(residual[rows] + 1e-3 * torch.randn_like(residual[rows]))
            book.inited.fill_(1.0)
            book.embed_avg.copy_(book.embed)
            residual = residual - book.decode(book.encode(residual[None]))[0]


def _set_generation_defaults(model) -> None:
    gen = model.generation_config
    gen.pad_token_id = TINY_CODEBOOK_SIZE
    gen.bos_token_id = TINY_CODEBOOK_SIZE
    gen.decoder_start_token_id = TINY_CODEBOOK_SIZE
    gen.max_length = TINY_MAX_SECONDS * 50
    gen.do_sample = True
    gen.guidance_scale = 3.0
    gen.top_k = 250


def build_tiny_musicgen_melody(seed: int = 0):
    """The tiny model's MusicGen-Melody sibling (conditioning prefix instead of cross-attention)."""
    from transformers import (
        MusicgenMelodyConfig,
        MusicgenMelodyDecoderConfig,
        MusicgenMelodyForConditionalGeneration,
    )

    base = tiny_config()
    decoder = MusicgenMelodyDecoderConfig(**{
        key: getattr(base.decoder, key)
        for key in ("vocab_size", "num_codebooks", "hidden_size", "ffn_dim",
                    "num_hidden_layers", "num_attention_heads", "max_position_embeddings",
                    "pad_token_id", "bos_token_id")
    })  # fmt: skip
    config = MusicgenMelodyConfig(
        text_encoder=base.text_encoder,
        audio_encoder=base.audio_encoder,
        decoder=decoder,
        num_chroma=12,
        chroma_length=24,
    )
    generator_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        model = MusicgenMelodyForConditionalGeneration(config)
        _fill_codebooks(model)
    finally:
        torch.random.set_rng_state(generator_state)
    _set_generation_defaults(model)
    return model.eval(), tiny_tokenizer()


def save_tiny_musicgen(folder: str | Path, seed: int = 0, stereo: bool = False) -> Path:
    """Write the tiny model as a normal transformers folder (safetensors + tokenizer)."""
    folder = Path(folder)
    model, tokenizer = build_tiny_musicgen(seed, stereo)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder
