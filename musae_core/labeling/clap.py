"""CLAP text and audio embeddings (transformers' ClapModel + ClapProcessor), loaded offline.

One ``ClapEmbedder`` serves the tagger, label validation and the steering evaluation. Weights
load from the local Hugging Face cache unless a download was asked for; ``"tiny"`` builds a
small random CLAP offline so every code path runs in tests (its scores mean nothing).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soxr
import torch

from musae_core.errors import MusaeError
from musae_core.jobs import CancelToken, check

KNOWN_CLAP_IDS = (
    "laion/larger_clap_music",
    "laion/larger_clap_music_and_speech",
    "laion/clap-htsat-unfused",
)
DEFAULT_CLAP_ID = "laion/larger_clap_music"
TINY_CLAP_ID = "tiny"
MIN_WINDOW_S = 1.0


class ClapEmbedder:
    """Unit-norm CLAP embeddings; text embeddings are cached per instance (labels repeat)."""

    def __init__(self, model, processor, model_id: str, batch_size: int = 8) -> None:
        self.model = model.eval()
        self.processor = processor
        self.model_id = model_id
        self.batch_size = batch_size
        self._text_cache: dict[str, np.ndarray] = {}
        extractor = processor.feature_extractor
        self.sample_rate = int(extractor.sampling_rate)
        self.window_seconds = float(getattr(extractor, "max_length_s", 10))
        text_config = model.config.text_config
        self._max_tokens = int(getattr(text_config, "max_position_embeddings", 514)) - 2

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dim(self) -> int:
        return int(self.model.config.projection_dim)

    def embed_text(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dim) float32, unit norm."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._text_cache]
        for start in range(0, len(missing), self.batch_size * 4):
            batch = missing[start : start + self.batch_size * 4]
            inputs = self.processor.tokenizer(
                batch,
                return_tensors="pt",
                padding=True,
                truncation=True,
                max_length=self._max_tokens,
            )
            with torch.no_grad():
                out = self.model.get_text_features(**inputs.to(self.device))
            for text, vector in zip(batch, _unit(_pooled(out)), strict=True):
                self._text_cache[text] = vector
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return np.stack([self._text_cache[t] for t in texts])

    def embed_audio(
        self,
        clips: Sequence[np.ndarray],
        sample_rate: int,
        cancel: CancelToken | None = None,
    ) -> np.ndarray:
        """(n, dim) float32, unit norm. Long clips are cut into model-length windows whose
        embeddings are averaged, so no random crop (CLAP's default) makes results vary."""
        windows: list[np.ndarray] = []
        owners: list[int] = []
        for index, clip in enumerate(clips):
            audio = _mono(clip, index)
            if sample_rate != self.sample_rate:
                audio = soxr.resample(audio, sample_rate, self.sample_rate).astype(np.float32)
            for window in self._windows(audio):
                windows.append(window)
                owners.append(index)
        vectors = np.zeros((len(windows), self.dim), np.float32)
        for start in range(0, len(windows), self.batch_size):
            check(cancel)
            batch = windows[start : start + self.batch_size]
            inputs = self.processor.feature_extractor(
                batch, sampling_rate=self.sample_rate, return_tensors="pt"
            )
            inputs = {k: v.to(self.device) for k, v in inputs.items()}
            inputs["input_features"] = inputs["input_features"].to(self.model.dtype)
            with torch.no_grad():
                out = self.model.get_audio_features(**inputs)
            vectors[start : start + len(batch)] = _pooled(out)
        result = np.zeros((len(clips), self.dim), np.float32)
        np.add.at(result, np.asarray(owners, dtype=np.int64), vectors)
        return _unit(result)

    def _windows(self, audio: np.ndarray) -> list[np.ndarray]:
        size = int(self.window_seconds * self.sample_rate)
        if audio.size <= size:
            return [audio]
        pieces = [audio[i : i + size] for i in range(0, audio.size, size)]
        keep = [p for p in pieces if p.size >= MIN_WINDOW_S * self.sample_rate]
        return keep or pieces[:1]


def _mono(clip: np.ndarray, index: int) -> np.ndarray:
    audio = np.asarray(clip, dtype=np.float32)
    if audio.ndim == 2:
        audio = audio.mean(axis=0)
    if audio.ndim != 1 or audio.size == 0 or not np.isfinite(audio).all():
        raise MusaeError(
            f"Clip {index} for CLAP is not finite mono audio (shape {np.shape(clip)}).",
            "pass 1-D float arrays of finite samples.",
        )
    return audio


def _pooled(out) -> np.ndarray:
    """transformers 5 returns a model output (projected embeddings in ``pooler_output``); 4.x
    returned the tensor itself."""
    tensor = out if isinstance(out, torch.Tensor) else out.pooler_output
    return tensor.detach().float().cpu().numpy()


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def build_tiny_clap(seed: int = 0) -> ClapEmbedder:
    """A random CLAP small enough for tests, built offline (byte-level tokenizer)."""
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel, ClapProcessor

    from musae_core.models.tiny import tiny_tokenizer

    tokenizer = tiny_tokenizer()
    config = ClapConfig(
        text_config=dict(
            vocab_size=len(tokenizer),
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=64,
            projection_dim=16,
            max_position_embeddings=130,
            pad_token_id=0,
            bos_token_id=1,
            eos_token_id=1,
        ),
        audio_config=dict(
            hidden_size=32,
            depths=[1, 1],
            num_attention_heads=[2, 2],
            patch_embeds_hidden_size=16,
            projection_dim=16,
            num_hidden_layers=2,
        ),
        projection_dim=16,
    )
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        model = ClapModel(config)
    finally:
        torch.random.set_rng_state(state)
    # rand_trunc: the default "fusion" path expects a 4-channel fused input the tiny model lacks.
    extractor = ClapFeatureExtractor(truncation="rand_trunc", max_length_s=10)
    processor = ClapProcessor(feature_extractor=extractor, tokenizer=tokenizer)
    return ClapEmbedder(model, processor, TINY_CLAP_ID)


def load_clap(
    model_id: str = DEFAULT_CLAP_ID,
    device: str = "auto",
    cache_dir: str | Path | None = None,
    allow_download: bool = False,
) -> ClapEmbedder:
    """'tiny[:SEED]', a local folder, or a Hugging Face id (local cache only unless asked)."""
    from transformers import ClapModel, ClapProcessor

    from musae_core.models.devices import select_device

    name, _, seed = model_id.partition(":")
    if name == TINY_CLAP_ID:
        if seed and not seed.isdigit():
            raise MusaeError(f"Bad CLAP id {model_id!r}.", "use 'tiny' or 'tiny:SEED'.")
        embedder = build_tiny_clap(int(seed or 0))
        embedder.model.to(select_device(device))
        return embedder
    local = Path(model_id).expanduser()
    is_folder = local.is_dir()
    if not is_folder and model_id.count("/") != 1:
        raise MusaeError(
            f"Unknown CLAP model {model_id!r}: not a folder and not a Hugging Face id.",
            f"use one of {', '.join(KNOWN_CLAP_IDS)}, a saved folder, or 'tiny' for tests.",
        )
    source = str(local) if is_folder else model_id
    offline = is_folder or not allow_download
    try:
        model = ClapModel.from_pretrained(source, cache_dir=cache_dir, local_files_only=offline)
        processor = ClapProcessor.from_pretrained(
            source, cache_dir=cache_dir, local_files_only=offline
        )
    except (OSError, ValueError) as exc:
        if is_folder:
            raise MusaeError(
                f"Folder {model_id} does not hold a complete CLAP model and processor.",
                "save one with ClapModel.save_pretrained() and ClapProcessor.save_pretrained().",
            ) from exc
        raise MusaeError(
            f"CLAP weights for {model_id} are not in the local Hugging Face cache and "
            "downloads are off.",
            f"run `musae label --download-clap --clap-model {model_id} ...` once where the "
            "Hugging Face hub is reachable, or pass a folder saved with save_pretrained().",
        ) from exc
    # transformers wraps PreTrainedModel.to with functools.wraps, so its stub wants the model
    # passed again as the first argument
    model = model.to(select_device(device))  # type: ignore[arg-type]
    return ClapEmbedder(model, processor, model_id)


def download_clap(
    model_id: str, cache_dir: str | Path | None = None, cancel: CancelToken | None = None
) -> Path:
    """Fetch a CLAP checkpoint into the Hugging Face cache (the only networked path here).

    The LAION music checkpoints keep ``pytorch_model.bin`` on their main branch (safetensors
    only in an unmerged conversion PR), so the ``.bin`` is fetched when no safetensors exist;
    transformers loads it with ``torch.load(weights_only=True)``.
    """
    from huggingface_hub import list_repo_files, snapshot_download

    check(cancel)
    patterns = ["*.json", "*.txt", "*.model", "*.safetensors"]
    try:
        files = list_repo_files(model_id)
        if not any(name.endswith(".safetensors") for name in files):
            patterns.append("pytorch_model.bin")
        path = snapshot_download(model_id, cache_dir=cache_dir, allow_patterns=patterns)
    except Exception as exc:  # the hub client raises many network error types
        raise MusaeError(
            f"Could not download CLAP model {model_id}: {exc}",
            "check the id and your network connection, then try again.",
        ) from exc
    return Path(path)
