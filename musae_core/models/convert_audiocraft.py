"""Lossless conversion between audiocraft MusicGen LM checkpoints and the transformers format.

The language model (the part people fine-tune) maps tensor for tensor: audiocraft fuses the
attention projections into one ``in_proj_weight`` that transformers splits into q/k/v, and the
module names differ. Every key is accounted for both ways, so anything that does not fit the other
format (biases in the feed-forward, LayerScale, rotary embeddings, ...) is refused instead of
being dropped. The text encoder (T5) and the codec are not part of an audiocraft LM checkpoint:
audiocraft refers to them by name, so they are resolved by name or taken from a ``base`` folder.

Nothing here imports audiocraft: files are plain ``torch.save`` dicts with a YAML config.

An audiocraft checkpoint folder holds ``state_dict.bin`` (``best_state`` + ``xp.cfg``) and
``compression_state_dict.bin`` (``{'pretrained': NAME}`` or ``best_state`` + ``xp.cfg``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

import torch

from musae_core.errors import MusaeError
from musae_core.models.audiocraft_cfg import (
    audiocraft_cfg_from_hf,
    hf_decoder_config_kwargs,
    not_lossless,
    parse_xp_cfg,
)

LM_FILE = "state_dict.bin"
COMPRESSION_FILE = "compression_state_dict.bin"
HF_CODEC_SUBFOLDER = "compression_hf"
"""Where a non-hub transformers codec is stored inside an audiocraft folder written by musae."""

T5_DIMS = {
    "t5-small": 512,
    "t5-base": 768,
    "t5-large": 1024,
    "t5-3b": 1024,
    "t5-11b": 1024,
    "google/flan-t5-small": 512,
    "google/flan-t5-base": 768,
    "google/flan-t5-large": 1024,
    "google/flan-t5-xl": 2048,
    "google/flan-t5-xxl": 4096,
}
"""The T5 names audiocraft's T5Conditioner accepts, with their hidden size."""

# per-layer names: audiocraft suffix -> transformers suffix (weights and biases alike)
_LAYER_RENAMES = {
    "norm1": "self_attn_layer_norm",
    "norm2": "final_layer_norm",
    "norm_cross": "encoder_attn_layer_norm",
    "linear1": "fc1",
    "linear2": "fc2",
    "self_attn.out_proj": "self_attn.out_proj",
    "cross_attention.out_proj": "encoder_attn.out_proj",
}
_FUSED = {"self_attn": "self_attn", "cross_attention": "encoder_attn"}
_PROJ = "condition_provider.conditioners.description.output_proj."
_AC_LAYER = re.compile(r"^transformer\.layers\.(\d+)\.(.+)$")
_HF_LAYER = re.compile(r"^model\.decoder\.layers\.(\d+)\.(.+)$")


# --- state dicts --------------------------------------------------------------------------------
def audiocraft_lm_to_hf(
    state: Mapping[str, torch.Tensor],
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """audiocraft ``LMModel`` state dict -> (``MusicgenForCausalLM`` state dict, ``enc_to_dec_proj``
    state dict). Raises if a tensor has no place in the transformers model."""
    decoder: dict[str, torch.Tensor] = {}
    proj: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        value = value.detach().clone()
        if m := re.fullmatch(r"emb\.(\d+)\.weight", key):
            decoder[f"model.decoder.embed_tokens.{m[1]}.weight"] = value
        elif m := re.fullmatch(r"linears\.(\d+)\.weight", key):
            decoder[f"lm_heads.{m[1]}.weight"] = value
        elif m := re.fullmatch(r"out_norm\.(weight|bias)", key):
            decoder[f"model.decoder.layer_norm.{m[1]}"] = value
        elif key.startswith(_PROJ) and key[len(_PROJ) :] in ("weight", "bias"):
            proj[key[len(_PROJ) :]] = value
        elif m := _AC_LAYER.match(key):
            layer, rest = m[1], m[2]
            prefix = f"model.decoder.layers.{layer}."
            module, _, leaf = rest.rpartition(".")
            if module in _FUSED and leaf == "in_proj_weight":
                q, k, v = _split_qkv(value, key)
                for name, part in zip("qkv", (q, k, v), strict=True):
                    decoder[f"{prefix}{_FUSED[module]}.{name}_proj.weight"] = part
            elif module in _LAYER_RENAMES and leaf in ("weight", "bias"):
                decoder[f"{prefix}{_LAYER_RENAMES[module]}.{leaf}"] = value
            else:
                raise not_lossless(f"transformers MusicGen has no place for {key!r}")
        else:
            raise not_lossless(f"transformers MusicGen has no place for {key!r}")
    return decoder, proj


def hf_to_audiocraft_lm(
    decoder: Mapping[str, torch.Tensor], proj: Mapping[str, torch.Tensor] | None = None
) -> dict[str, torch.Tensor]:
    """Inverse of ``audiocraft_lm_to_hf``: merges q/k/v into ``in_proj_weight``."""
    renames = {hf: ac for ac, hf in _LAYER_RENAMES.items()}
    fused = {hf: ac for ac, hf in _FUSED.items()}
    out: dict[str, torch.Tensor] = {}
    pending: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    for key, value in decoder.items():
        value = value.detach().clone()
        if key == "model.decoder.embed_positions.weights":
            continue  # sinusoidal table, recomputed by both implementations
        if m := re.fullmatch(r"model\.decoder\.embed_tokens\.(\d+)\.weight", key):
            out[f"emb.{m[1]}.weight"] = value
        elif m := re.fullmatch(r"lm_heads\.(\d+)\.weight", key):
            out[f"linears.{m[1]}.weight"] = value
        elif m := re.fullmatch(r"model\.decoder\.layer_norm\.(weight|bias)", key):
            out[f"out_norm.{m[1]}"] = value
        elif m := _HF_LAYER.match(key):
            layer, rest = m[1], m[2]
            module, _, leaf = rest.rpartition(".")
            attn, _, proj_name = module.rpartition(".")
            if attn in fused and proj_name in ("q_proj", "k_proj", "v_proj") and leaf == "weight":
                pending.setdefault((layer, attn), {})[proj_name[0]] = value
            elif module in renames and leaf in ("weight", "bias"):
                out[f"transformer.layers.{layer}.{renames[module]}.{leaf}"] = value
            else:
                raise not_lossless(f"audiocraft's LM has no place for {key!r}")
        else:
            raise not_lossless(f"audiocraft's LM has no place for {key!r}")
    for (layer, attn), parts in pending.items():
        if set(parts) != {"q", "k", "v"}:
            raise not_lossless(f"layer {layer} {attn} lacks one of q/k/v")
        fused_weight = torch.cat([parts["q"], parts["k"], parts["v"]], dim=0)
        out[f"transformer.layers.{layer}.{fused[attn]}.in_proj_weight"] = fused_weight
    for leaf, value in (proj or {}).items():
        out[_PROJ + leaf] = value.detach().clone()
    return out


def _split_qkv(weight: torch.Tensor, key: str) -> tuple[torch.Tensor, ...]:
    if weight.ndim != 2 or weight.shape[0] != 3 * weight.shape[1]:
        raise not_lossless(f"{key!r} has shape {tuple(weight.shape)} (grouped or biased kv)")
    return tuple(part.clone() for part in weight.chunk(3, dim=0))


# --- checkpoint files ---------------------------------------------------------------------------
def is_audiocraft_checkpoint(path: str | Path) -> bool:
    """A folder holding ``state_dict.bin`` (audiocraft export), or such a file itself."""
    path = Path(path).expanduser()
    if path.is_file():
        return path.name == LM_FILE or path.suffix in (".bin", ".th", ".pt")
    return (path / LM_FILE).is_file()


def lm_file(path: str | Path) -> Path:
    path = Path(path).expanduser()
    return path if path.is_file() else path / LM_FILE


def load_package(file: Path) -> dict:
    """``torch.load`` an audiocraft package safely (tensors, strings and numbers only)."""
    if not file.is_file():
        raise MusaeError(
            f"{file} does not exist.",
            "point at an audiocraft export folder (state_dict.bin + compression_state_dict.bin).",
        )
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors come in many types
        raise MusaeError(
            f"Cannot read {file} safely: {exc}",
            "re-export it with audiocraft.utils.export (plain tensors and a YAML config).",
        ) from exc


def read_lm_package(path: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    pkg = load_package(lm_file(path))
    if "best_state" not in pkg or "xp.cfg" not in pkg:
        raise MusaeError(
            f"{lm_file(path)} is not an exported audiocraft LM (no best_state / xp.cfg).",
            "export it with audiocraft.utils.export.export_lm().",
        )
    state = pkg["best_state"]
    if isinstance(state, Mapping) and "model" in state and "best_state" not in state:
        state = state["model"]
    return dict(state), parse_xp_cfg(pkg["xp.cfg"])


def write_lm_package(folder: Path, state: Mapping[str, torch.Tensor], cfg: Mapping) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    pkg = {
        "best_state": {k: v.contiguous() for k, v in state.items()},
        "xp.cfg": json.dumps(cfg, indent=1),  # JSON is YAML: OmegaConf.create reads it
        "version": "1.3.0",
        "exported": True,
    }
    torch.save(pkg, folder / LM_FILE)
    return folder / LM_FILE


def _known_t5(text_config, explicit: str | None) -> str:
    if explicit:
        return explicit
    name = getattr(text_config, "_name_or_path", "") or ""
    short = name.removeprefix("google-t5/")
    if short in T5_DIMS:
        return short
    raise MusaeError(
        "The text encoder is not a stock T5 that audiocraft can name "
        f"(got {name or 'an unnamed'} T5 with d_model {text_config.d_model}).",
        f"pass --t5-name with one of {', '.join(T5_DIMS)}.",
    )


def hf_to_audiocraft(
    hf_model, out: str | Path, t5_name: str | None = None, max_duration: float | None = None
) -> Path:
    """Write a transformers ``MusicgenForConditionalGeneration`` as an audiocraft folder."""
    out = Path(out)
    config = hf_model.config
    if "Melody" in type(hf_model).__name__:
        raise not_lossless("MusicGen-Melody's transformers layout differs from audiocraft's")
    name = _known_t5(config.text_encoder, t5_name)
    decoder_state = hf_model.decoder.state_dict()
    proj_state = {}
    if getattr(hf_model, "enc_to_dec_proj", None) is not None:
        proj_state = hf_model.enc_to_dec_proj.state_dict()
    else:  # same width: audiocraft still has a projection; identity keeps the function
        width = config.decoder.hidden_size
        proj_state = {"weight": torch.eye(width), "bias": torch.zeros(width)}
    state = hf_to_audiocraft_lm(decoder_state, proj_state)
    codec = config.audio_encoder
    gen = hf_model.generation_config
    if max_duration is None:
        frames = gen.max_length if gen.max_length and gen.max_length > 20 else 1500
        max_duration = frames / codec.frame_rate
    cfg = audiocraft_cfg_from_hf(
        config.decoder, name, codec.sampling_rate, codec.frame_rate, max_duration
    )
    write_lm_package(out, state, cfg)
    codec_name = getattr(codec, "_name_or_path", "") or ""
    if not codec_name.startswith("facebook/encodec"):
        hf_model.audio_encoder.save_pretrained(out / HF_CODEC_SUBFOLDER, safe_serialization=True)
        codec_name = HF_CODEC_SUBFOLDER
    torch.save(
        {"pretrained": codec_name, "exported": True, "version": "1.3.0"}, out / COMPRESSION_FILE
    )
    return out


def audiocraft_to_hf(
    src: str | Path,
    out: str | Path | None = None,
    base: str | Path | None = None,
    allow_download: bool = False,
):
    """Build a transformers ``MusicgenForConditionalGeneration`` from an audiocraft folder.

    The LM comes from the checkpoint; the T5 text encoder, tokenizer and codec from ``base`` (a
    transformers MusicGen folder) when given, else by the names the checkpoint records (from the
    local Hugging Face cache unless ``allow_download``). Saves to ``out`` when given.
    """
    from transformers import (
        AutoTokenizer,
        EncodecModel,
        MusicgenDecoderConfig,
        MusicgenForCausalLM,
        MusicgenForConditionalGeneration,
        T5EncoderModel,
    )

    src = Path(src).expanduser()
    state, cfg = read_lm_package(src)
    decoder_state, proj_state = audiocraft_lm_to_hf(state)
    decoder_config = MusicgenDecoderConfig(**hf_decoder_config_kwargs(cfg))
    decoder = MusicgenForCausalLM(decoder_config).eval()
    _load_exact(decoder, decoder_state, "the decoder")
    offline = not allow_download
    tokenizer = None
    try:
        if base is not None:
            base_model = MusicgenForConditionalGeneration.from_pretrained(
                str(base), local_files_only=True, use_safetensors=True
            )
            text_encoder, audio_encoder = base_model.text_encoder, base_model.audio_encoder
            tokenizer = AutoTokenizer.from_pretrained(str(base), local_files_only=True)
            generation_config = base_model.generation_config
        else:
            t5 = cfg["conditioners"]["description"]["t5"]["name"]
            text_encoder = T5EncoderModel.from_pretrained(t5, local_files_only=offline)
            tokenizer = AutoTokenizer.from_pretrained(t5, local_files_only=offline)
            audio_encoder = EncodecModel.from_pretrained(
                _codec_source(src), local_files_only=offline
            )
            generation_config = None
    except (OSError, ValueError) as exc:
        raise MusaeError(
            f"Cannot find the text encoder / codec for {src}: {exc}",
            "pass --base with a transformers MusicGen folder (e.g. a facebook/musicgen-small "
            "snapshot), or allow downloads.",
        ) from exc
    model = MusicgenForConditionalGeneration(
        text_encoder=text_encoder, audio_encoder=audio_encoder, decoder=decoder
    ).eval()
    if proj_state:
        if getattr(model, "enc_to_dec_proj", None) is None:
            width = decoder_config.hidden_size
            identity = torch.equal(proj_state["weight"], torch.eye(width)) and not bool(
                proj_state.get("bias", torch.zeros(1)).any()
            )
            if not identity:
                raise not_lossless("the text projection is not the identity but widths match")
        else:
            _load_exact(model.enc_to_dec_proj, proj_state, "the text projection")
    gen = model.generation_config
    if generation_config is not None:
        model.generation_config = generation_config
    else:
        frame_rate = audio_encoder.config.frame_rate
        duration = float((cfg.get("dataset") or {}).get("segment_duration") or 30.0)
        gen.max_length = int(duration * frame_rate)
        gen.do_sample, gen.top_k = True, 250
        gen.guidance_scale = float(cfg.get("classifier_free_guidance", {}).get("inference_coef", 3))
    card = decoder_config.vocab_size
    model.generation_config.pad_token_id = card
    model.generation_config.decoder_start_token_id = card
    model.generation_config.bos_token_id = card
    if out is not None:
        out = Path(out)
        model.save_pretrained(out, safe_serialization=True)
        if tokenizer is not None:
            tokenizer.save_pretrained(out)
    return model, tokenizer


def _codec_source(src: Path) -> str:
    folder = src if src.is_dir() else src.parent
    pkg = load_package(folder / COMPRESSION_FILE)
    name = pkg.get("pretrained")
    if not name:
        raise MusaeError(
            f"{folder} holds an audiocraft-native codec; musae converts only codecs that "
            "transformers' EncodecModel can load.",
            "pass --base with a transformers MusicGen folder that has the same codec.",
        )
    local = folder / name
    return str(local) if local.is_dir() else name


def _load_exact(module: torch.nn.Module, state: Mapping[str, torch.Tensor], what: str) -> None:
    missing, unexpected = module.load_state_dict(dict(state), strict=False)
    missing = [k for k in missing if not k.endswith("embed_positions.weights")]
    if missing or unexpected:
        raise not_lossless(f"{what} keys differ (missing {missing}, unexpected {unexpected})")


def convert(
    src: str | Path,
    dst: str | Path,
    base: str | Path | None = None,
    t5_name: str | None = None,
    allow_download: bool = False,
) -> str:
    """Convert in the direction the source implies; returns 'audiocraft->transformers' or back."""
    src_path = Path(src).expanduser()
    dst_path = Path(dst).expanduser()
    if dst_path.exists() and (not dst_path.is_dir() or any(dst_path.iterdir())):
        raise MusaeError(f"{dst_path} already exists.", "pick a new output folder.")
    if is_audiocraft_checkpoint(src_path):
        audiocraft_to_hf(src_path, dst_path, base=base, allow_download=allow_download)
        return "audiocraft->transformers"
    if (src_path / "config.json").is_file():
        from transformers import MusicgenForConditionalGeneration

        hf = MusicgenForConditionalGeneration.from_pretrained(
            str(src_path), local_files_only=True, use_safetensors=True
        )
        hf_to_audiocraft(hf, dst_path, t5_name=t5_name)
        return "transformers->audiocraft"
    raise MusaeError(
        f"{src_path} is neither an audiocraft export (state_dict.bin) nor a transformers folder "
        "(config.json).",
        "point --from at one of those.",
    )
