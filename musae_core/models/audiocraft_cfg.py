"""audiocraft ``xp.cfg`` <-> transformers MusicGen decoder config, and what cannot convert.

Kept apart from the tensor mapping and the checkpoint files (``convert_audiocraft``): this
module only decides whether a config has a lossless counterpart and writes that counterpart.
Every refusal names the option that breaks losslessness, so the user sees which setting is the
obstacle.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from musae_core.errors import MusaeError


def not_lossless(what: str) -> MusaeError:
    return MusaeError(
        f"This checkpoint cannot be converted losslessly: {what}.",
        "use the audiocraft backend directly (musae loads audiocraft folders as they are).",
    )


def parse_xp_cfg(value) -> dict:
    """``xp.cfg`` as stored by audiocraft (a YAML string, or a mapping) -> plain dict."""
    if isinstance(value, Mapping):
        return json.loads(json.dumps(dict(value), default=str))
    import yaml

    return yaml.safe_load(value)


def check_convertible_cfg(cfg: Mapping) -> None:
    """Raise unless the LM config describes what transformers' MusicGen can represent."""
    lm = cfg.get("transformer_lm", {})
    checks = {
        "norm_first": (lm.get("norm_first"), True),
        "bias_ff": (lm.get("bias_ff"), False),
        "bias_attn": (lm.get("bias_attn"), False),
        "bias_proj": (lm.get("bias_proj"), False),
        "positional_embedding": (lm.get("positional_embedding", "sin"), "sin"),
        "positional_scale": (float(lm.get("positional_scale", 1.0)), 1.0),
        "layer_scale": (lm.get("layer_scale"), None),
        "kv_repeat": (lm.get("kv_repeat", 1), 1),
        "qk_layer_norm": (bool(lm.get("qk_layer_norm", False)), False),
        "activation": (lm.get("activation", "gelu"), "gelu"),
        "norm": (lm.get("norm", "layer_norm"), "layer_norm"),
        "fuser.cross_attention_pos_emb": (
            bool(cfg.get("fuser", {}).get("cross_attention_pos_emb", False)),
            False,
        ),
    }
    for name, (have, want) in checks.items():
        if have != want:
            raise not_lossless(f"{name} is {have!r} (transformers MusicGen needs {want!r})")
    if float(lm.get("max_period", 10_000)) != 10_000:
        raise not_lossless("the sinusoidal max_period is not 10000")
    fuser = cfg.get("fuser", {})
    if fuser.get("prepend") or fuser.get("sum") or fuser.get("input_interpolate"):
        raise not_lossless("conditions are prepended or summed (melody-style conditioning)")
    conditioners = {k: v for k, v in (cfg.get("conditioners") or {}).items() if k != "args"}
    if set(conditioners) != {"description"} or conditioners["description"].get("model") != "t5":
        raise not_lossless("the text conditioning is not a single T5 'description' conditioner")


def delays_from_cfg(cfg: Mapping) -> list[int]:
    pattern = cfg.get("codebooks_pattern") or {}
    n_q = int(cfg["transformer_lm"]["n_q"])
    modeling = pattern.get("modeling") or cfg["transformer_lm"].get("q_modeling")
    if modeling != "delay":
        raise not_lossless(f"the codebook pattern is {modeling!r}, not 'delay'")
    delay = pattern.get("delay") or {}
    if delay.get("flatten_first", 0) or delay.get("empty_initial", 0):
        raise not_lossless("the delay pattern uses flatten_first/empty_initial")
    return list(delay.get("delays") or range(n_q))


def hf_decoder_config_kwargs(cfg: Mapping) -> dict:
    """Keyword arguments for ``MusicgenDecoderConfig`` equivalent to an audiocraft LM config."""
    check_convertible_cfg(cfg)
    lm = cfg["transformer_lm"]
    dim = int(lm["dim"])
    channels = int(cfg.get("channels", 1))
    n_q = int(lm["n_q"])
    from musae_core.models.delay import codebook_delays

    if delays_from_cfg(cfg) != codebook_delays(n_q, channels):
        raise not_lossless(f"delays {delays_from_cfg(cfg)} differ from MusicGen's pattern")
    card = int(lm["card"])
    duration = float((cfg.get("dataset") or {}).get("segment_duration") or 30.0)
    return {
        "vocab_size": card,
        "num_codebooks": n_q,
        "audio_channels": channels,
        "hidden_size": dim,
        "ffn_dim": int(float(lm.get("hidden_scale", 4)) * dim),
        "num_hidden_layers": int(lm["num_layers"]),
        "num_attention_heads": int(lm["num_heads"]),
        "max_position_embeddings": max(2048, int(duration * 50) + 16),
        "activation_function": "gelu",
        "pad_token_id": card,
        "bos_token_id": card,
        "tie_word_embeddings": False,
    }


def audiocraft_cfg_from_hf(
    decoder_config, t5_name: str, sample_rate: int, frame_rate: float, max_duration: float = 30.0
) -> dict:
    """An ``xp.cfg`` dict that audiocraft's ``builders.get_lm_model`` turns into the same LM."""
    dc = decoder_config
    if getattr(dc, "scale_embedding", False):
        raise not_lossless("the transformers decoder scales its embeddings")
    if dc.activation_function != "gelu":
        raise not_lossless(f"activation {dc.activation_function!r} is not gelu")
    if dc.hidden_size % dc.num_attention_heads or dc.ffn_dim % dc.hidden_size:
        raise not_lossless("ffn_dim is not a whole multiple of hidden_size")
    if dc.pad_token_id != dc.vocab_size:
        raise not_lossless("the pad/special token is not vocab_size")
    from musae_core.models.delay import codebook_delays

    channels = int(dc.audio_channels)
    cfg = musicgen_lm_cfg(
        dim=dc.hidden_size,
        num_heads=dc.num_attention_heads,
        num_layers=dc.num_hidden_layers,
        hidden_scale=dc.ffn_dim // dc.hidden_size,
        n_q=dc.num_codebooks,
        card=dc.vocab_size,
        delays=codebook_delays(dc.num_codebooks, channels),
        conditioner={
            "model": "t5",
            "t5": {
                "name": t5_name,
                "finetune": False,
                "word_dropout": 0.0,
                "normalize_text": False,
            },
        },
        sample_rate=sample_rate,
        channels=channels,
        max_duration=max_duration,
    )
    cfg["musae"] = {"frame_rate": float(frame_rate), "converted_from": "transformers"}
    if channels == 2:
        cfg["interleave_stereo_codebooks"] = {"use": True, "per_timestep": False}
    return cfg


def musicgen_lm_cfg(
    *,
    dim: int,
    num_heads: int,
    num_layers: int,
    hidden_scale: int,
    n_q: int,
    card: int,
    delays: list[int],
    conditioner: dict,
    sample_rate: int = 32000,
    channels: int = 1,
    max_duration: float = 30.0,
    weight_init: str | None = None,
    zero_bias_init: bool = False,
) -> dict:
    """The ``xp.cfg`` of an audiocraft LM with MusicGen's architecture (pre-norm, no biases,
    sinusoidal positions, cross-attention on one 'description' condition, delay pattern), as
    ``check_convertible_cfg`` asks; the conditioner is the caller's (T5 for conversions, a
    lookup table for the offline debug model), so both build their LM from one dict."""
    return {
        "lm_model": "transformer_lm",
        "sample_rate": int(sample_rate),
        "channels": channels,
        "device": "cpu",
        "dtype": "float32",
        "compression_model_n_q": None,
        "dataset": {"segment_duration": float(max_duration)},
        "transformer_lm": {
            "dim": dim, "num_heads": num_heads, "num_layers": num_layers,
            "hidden_scale": hidden_scale, "n_q": n_q, "card": card, "dropout": 0.0,
            "emb_lr": None, "activation": "gelu", "norm_first": True, "bias_ff": False,
            "bias_attn": False, "bias_proj": False, "past_context": None, "causal": True,
            "custom": False, "memory_efficient": True, "attention_as_float32": False,
            "layer_scale": None, "positional_embedding": "sin", "xpos": False,
            "checkpointing": "none", "weight_init": weight_init, "depthwise_init": None,
            "zero_bias_init": zero_bias_init, "norm": "layer_norm", "cross_attention": False,
            "qk_layer_norm": False, "qk_layer_norm_cross": False, "attention_dropout": None,
            "kv_repeat": 1, "two_step_cfg": False,
        },
        "codebooks_pattern": {
            "modeling": "delay",
            "delay": {"delays": list(delays), "flatten_first": 0, "empty_initial": 0},
        },
        "attribute_dropout": {},
        "classifier_free_guidance": {"training_dropout": 0.0, "inference_coef": 3.0},
        "fuser": {
            "cross_attention_pos_emb": False, "cross_attention_pos_emb_scale": 1.0,
            "sum": [], "prepend": [], "cross": ["description"], "input_interpolate": [],
        },
        "conditioners": {"description": conditioner},
    }  # fmt: skip
