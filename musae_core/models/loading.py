"""Resolve a model id ('tiny', a Hugging Face id, a local folder) to a loaded ``MusicModel``.

Weights load from safetensors only, and from the local cache only unless the user explicitly
asked for a download (``musae download`` or ``allow_download=True``).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from musae_core.errors import MusaeError
from musae_core.jobs import CancelToken, ProgressFn
from musae_core.models.base import MusicModel
from musae_core.models.devices import select_device, select_dtype

log = logging.getLogger(__name__)

RESOURCES = Path(__file__).resolve().parents[2] / "resources"
SHIPPED_MODELS = {"demo": RESOURCES / "demo" / "model"}  # id -> folder (musae demo train's)
SEMITONE_CODEC_TYPE = "musae_demo_codec"  # = semitone_codec.MODEL_TYPE (import-free here)
SEMITONE_CODEC_TRANSFORMERS = "5.4"  # strict dataclass configs (5.3 refuses it; 5.4 loads it)

KNOWN_MUSICGEN_IDS = (
    "facebook/musicgen-small",
    "facebook/musicgen-medium",
    "facebook/musicgen-large",
    "facebook/musicgen-melody",
    "facebook/musicgen-melody-large",
    "facebook/musicgen-stereo-small",
    "facebook/musicgen-stereo-medium",
    "facebook/musicgen-stereo-large",
)


def load_model(
    model_id: str,
    device: str = "auto",
    dtype: str = "auto",
    cache_dir: str | Path | None = None,
    allow_download: bool = False,
) -> MusicModel:
    """Load ``model_id``: 'tiny[-stereo|-melody|-audiocraft][:SEED]', a shipped model ('demo'),
    a folder (transformers or audiocraft export), or a Hugging Face repo id."""
    from musae_core import threads

    model = _load_model(shipped_id(model_id), device, dtype, cache_dir, allow_download)
    threads.fit_model(model)  # CPU threads for this model's size (entry points only)
    return model


def _load_model(
    model_id: str, device: str, dtype: str, cache_dir: str | Path | None, allow_download: bool
) -> MusicModel:
    from musae_core.models.convert_audiocraft import is_audiocraft_checkpoint
    from musae_core.models.musicgen_hf import TransformersMusicGen
    from musae_core.models.musicgen_melody_hf import TransformersMusicGenMelody

    torch_device = select_device(device)
    torch_dtype = select_dtype(dtype, torch_device)
    name = model_id.split(":")[0]
    if name == "tiny-audiocraft":  # audiocraft's own debug model, on the audiocraft backend
        from musae_core.models.audiocraft_debug import load_debug_audiocraft

        debug: MusicModel = load_debug_audiocraft(_tiny_seed(model_id), torch_device, torch_dtype)
        return debug
    if is_audiocraft_checkpoint(model_id):
        from musae_core.models.audiocraft_backend import load_audiocraft_model

        return load_audiocraft_model(model_id, torch_device, torch_dtype, model_id, allow_download)
    if name in ("tiny", "tiny-stereo", "tiny-melody"):
        from musae_core.models.tiny import build_tiny_musicgen, build_tiny_musicgen_melody

        seed = _tiny_seed(model_id)
        if name == "tiny-melody":
            hf, tokenizer = build_tiny_musicgen_melody(seed)
        else:
            hf, tokenizer = build_tiny_musicgen(seed, stereo=name == "tiny-stereo")
    elif model_id in SHIPPED_MODELS:
        hf, tokenizer = _load_transformers(str(shipped_model_folder(model_id)), cache_dir, False)
    else:
        hf, tokenizer = _load_transformers(model_id, cache_dir, allow_download)
    backend = TransformersMusicGenMelody if "Melody" in type(hf).__name__ else TransformersMusicGen
    return backend(hf.to(torch_device, torch_dtype), tokenizer, model_id)


def shipped_id(model_id: str) -> str:
    """A shipped model named by its folder ('resources/demo/model') is the shipped model
    ('demo'), the id its SAE and feature database record; before, the folder's path became the
    model's id and the shipped SAE was refused as trained on another model."""
    path = Path(model_id)
    if path.is_dir():
        for name, folder in SHIPPED_MODELS.items():
            if folder.is_dir() and path.resolve() == folder.resolve():
                return name
    return model_id


def shipped_model_folder(model_id: str) -> Path:
    """The folder of a model shipped under resources/ (``SHIPPED_MODELS``), found by path: loading
    the demo's model never imports the demo code that built it."""
    folder = SHIPPED_MODELS[model_id]
    if not (folder / "config.json").exists():
        raise MusaeError(
            f"The {model_id} model is missing from {folder}.",
            f"build it as {folder.parent / 'README.md'} says (the demo: scripts/build_demo.sh, "
            f"or musae demo train, then copy its model folder to {folder}).",
        )
    return folder


def _tiny_seed(model_id: str) -> int:
    if ":" not in model_id:
        return 0
    text = model_id.split(":", 1)[1]
    if not text.isdigit():
        raise MusaeError(
            f"Bad tiny model id {model_id!r}.",
            "use e.g. 'tiny', 'tiny:SEED', 'tiny-stereo', 'tiny-melody' or 'tiny-audiocraft:SEED'.",
        )
    return int(text)


def register_model_parts(config: dict[str, Any], model_id: str) -> None:
    """Tell transformers about a model part musae ships that ``config`` (a MusicGen config.json)
    names: today the semitone codec of the demo's model. Only then is its module imported, so
    other models load without it, and with a transformers too old for it."""
    if (config.get("audio_encoder") or {}).get("model_type") != SEMITONE_CODEC_TYPE:
        return
    import transformers

    if _release(transformers.__version__) < _release(SEMITONE_CODEC_TRANSFORMERS):
        raise _codec_needs_newer_transformers(model_id, "its config is a strict dataclass")
    try:
        from musae_core.models import semitone_codec
    except ImportError as exc:
        raise _codec_needs_newer_transformers(model_id, str(exc)) from exc
    semitone_codec.register()


def _codec_needs_newer_transformers(model_id: str, why: str) -> MusaeError:
    import transformers

    return MusaeError(
        f"{model_id} uses musae's semitone codec, which needs transformers >= "
        f"{SEMITONE_CODEC_TRANSFORMERS} (installed: {transformers.__version__}; {why}).",
        f"upgrade it: pip install 'transformers>={SEMITONE_CODEC_TRANSFORMERS}'.",
    )


def _release(version: str) -> tuple[int, ...]:
    """'5.4.0.dev0' -> (5, 4): enough to compare against a floor."""
    return tuple(int(part) for part in re.findall(r"\d+", version)[:2])


def _load_transformers(
    model_id: str, cache_dir: str | Path | None, allow_download: bool
) -> tuple[Any, Any]:  # (transformers MusicGen model, its tokenizer)
    from transformers import (
        AutoConfig,
        AutoTokenizer,
        MusicgenForConditionalGeneration,
        MusicgenMelodyForConditionalGeneration,
        PretrainedConfig,
        PreTrainedModel,
    )

    local = Path(model_id).expanduser()
    is_folder = local.is_dir()
    if not is_folder and (local.exists() or model_id.count("/") != 1):
        raise MusaeError(
            f"Unknown model {model_id!r}: not a folder and not a Hugging Face id.",
            "use 'tiny', a folder with config.json, or an id such as facebook/musicgen-small.",
        )
    source = str(local) if is_folder else model_id
    offline = is_folder or not allow_download
    try:
        raw, _ = PretrainedConfig.get_config_dict(
            source, cache_dir=cache_dir, local_files_only=offline
        )
        register_model_parts(raw, model_id)
        config = AutoConfig.from_pretrained(source, cache_dir=cache_dir, local_files_only=offline)
    except (OSError, ValueError) as exc:
        raise _missing_weights_error(model_id, is_folder) from exc
    classes: dict[str, type[PreTrainedModel]] = {
        "musicgen": MusicgenForConditionalGeneration,
        "musicgen_melody": MusicgenMelodyForConditionalGeneration,
    }
    if config.model_type not in classes:
        raise MusaeError(
            f"{model_id} is a {config.model_type!r} model; musae's transformers backend "
            "loads MusicGen checkpoints (model_type 'musicgen' or 'musicgen_melody').",
            "point at a facebook/musicgen-* model or a folder saved from one.",
        )
    try:
        hf = classes[config.model_type].from_pretrained(
            source, cache_dir=cache_dir, local_files_only=offline, use_safetensors=True
        )
        tokenizer = AutoTokenizer.from_pretrained(
            source, cache_dir=cache_dir, local_files_only=offline
        )
    except (OSError, ValueError) as exc:
        raise _missing_weights_error(model_id, is_folder) from exc
    return hf, tokenizer


def _missing_weights_error(model_id: str, is_folder: bool) -> MusaeError:
    if is_folder:
        return MusaeError(
            f"Folder {model_id} does not hold a complete MusicGen (config.json, "
            "model.safetensors, tokenizer).",
            "save one with model.save_pretrained() and tokenizer.save_pretrained().",
        )
    return MusaeError(
        f"Weights for {model_id} are not in the local Hugging Face cache and downloads are off.",
        f"run `musae download {model_id}` where the Hugging Face hub is reachable, "
        "or pass a local folder.",
    )


def download_model(
    model_id: str,
    cache_dir: str | Path | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> Path:
    """Fetch a model's safetensors, config and tokenizer into the Hugging Face cache."""
    from huggingface_hub import snapshot_download

    if cancel is not None:
        cancel.raise_if_cancelled()
    try:
        path = snapshot_download(
            model_id,
            cache_dir=cache_dir,
            allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt"],
        )
    except Exception as exc:  # network errors come in many types from the hub client
        raise MusaeError(
            f"Could not download {model_id}: {exc}",
            "check the id and your network connection, then try again.",
        ) from exc
    if progress is not None:
        progress(1, 1)
    return Path(path)
