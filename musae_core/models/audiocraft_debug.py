"""A tiny audiocraft MusicGen built offline (audiocraft's own "debug model" idea), for tests.

The LM is built from an ``xp.cfg`` with audiocraft's builders (MusicGen's architecture: pre-norm,
no biases, sinusoidal positions, cross-attention on a text condition, delay pattern) and the codec
is the debug SEANet/RVQ EncodecModel at 25 Hz. The text conditioner is a ``LUTConditioner`` with
the 'noop' tokenizer (T5 or the whitespace tokenizer would need downloads). Weights are random but
fixed by ``seed``, and the pair is saved as a normal audiocraft export folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from musae_core.models.audiocraft_cfg import musicgen_lm_cfg
from musae_core.models.convert_audiocraft import COMPRESSION_FILE, write_lm_package

DEBUG_CARD = 64
DEBUG_N_Q = 4


def debug_lm_cfg(dim: int = 32, num_layers: int = 2, num_heads: int = 4) -> dict:
    return musicgen_lm_cfg(
        dim=dim,
        num_heads=num_heads,
        num_layers=num_layers,
        hidden_scale=4,
        n_q=DEBUG_N_Q,
        card=DEBUG_CARD,
        delays=list(range(DEBUG_N_Q)),
        conditioner={"model": "lut", "lut": {"n_bins": 128, "dim": 16, "tokenizer": "noop"}},
        weight_init="gaussian",
        zero_bias_init=True,
    )


def debug_compression_cfg() -> dict:
    return {
        "compression_model": "encodec",
        "device": "cpu",
        "encodec": {"autoencoder": "seanet", "quantizer": "rvq", "sample_rate": 32000,
                    "channels": 1, "causal": False, "renormalize": False},
        "seanet": {"dimension": 32, "n_filters": 4, "n_residual_layers": 1,
                   "ratios": [10, 8, 16], "encoder": {}, "decoder": {}},
        "rvq": {"n_q": DEBUG_N_Q, "bins": DEBUG_CARD, "q_dropout": False},
    }  # fmt: skip


def build_debug_audiocraft(seed: int = 0, lm_cfg: dict | None = None):
    """(LMModel, EncodecModel) with weights fixed by ``seed``; needs audiocraft."""
    from audiocraft.models import builders
    from omegaconf import OmegaConf

    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        lm = builders.get_lm_model(OmegaConf.create(lm_cfg or debug_lm_cfg()))
        codec = builders.get_compression_model(OmegaConf.create(debug_compression_cfg()))
        codec.quantizer.train()
        codec.quantizer(torch.randn(8, 32, 128), 25)  # k-means-initialise the codebooks
    finally:
        torch.random.set_rng_state(state)
    return lm.eval(), codec.eval()


def save_debug_audiocraft(folder: str | Path, seed: int = 0) -> Path:
    """Write the debug model as an audiocraft export folder (loadable by ``load_model``)."""
    folder = Path(folder)
    lm, codec = build_debug_audiocraft(seed)
    write_lm_package(folder, lm.state_dict(), debug_lm_cfg())
    torch.save(
        {
            "best_state": codec.state_dict(),
            "xp.cfg": json.dumps(debug_compression_cfg()),
            "version": "1.3.0",
            "exported": True,
        },
        folder / COMPRESSION_FILE,
    )
    return folder


def load_debug_audiocraft(seed: int = 0, device="cpu", dtype=torch.float32):
    """The debug model as an ``AudiocraftMusicGen`` (model id 'tiny-audiocraft')."""
    from musae_core.models.audiocraft_backend import AudiocraftMusicGen, require_audiocraft

    require_audiocraft()
    lm, codec = build_debug_audiocraft(seed)
    model_id = "tiny-audiocraft" if seed == 0 else f"tiny-audiocraft:{seed}"
    return AudiocraftMusicGen(lm.to(device, dtype), codec.to(device), model_id, 30.0)
