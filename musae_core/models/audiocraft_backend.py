"""MusicGen through audiocraft's own ``LMModel`` and compression model (fine-tuned checkpoints).

Many musicians fine-tune MusicGen with audiocraft's training pipeline and hold its export format
(``state_dict.bin`` + ``compression_state_dict.bin``), which transformers cannot load. This
backend runs such checkpoints behind the same ``MusicModel`` interface: the residual stream after
``lm.transformer.layers[L]`` is hook point ``blocks.L.hook_resid_post``, and generation uses
musae's own decoding loop (delay pattern, raw-logit CFG, transformers' warpers, per-step progress
and cancel) over audiocraft's streaming KV cache, so takes match the transformers backend's
semantics exactly. audiocraft is imported lazily; see docs/audiocraft.md for installing it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from musae_core.errors import MusaeError
from musae_core.models import delay as dp
from musae_core.models.base import (
    ForwardContext,
    GenerationRequest,
    MusicModel,
    StepLogits,
    TeacherForcedOutput,
)
from musae_core.models.convert_audiocraft import (
    COMPRESSION_FILE,
    is_audiocraft_checkpoint,
    lm_file,
    load_package,
)

INSTALL_HINT = (
    "install the optional audiocraft backend: `bash scripts/install_audiocraft.sh` "
    "(see docs/audiocraft.md), or convert the checkpoint with `musae convert --from CKPT --to "
    "FOLDER` on a machine that has audiocraft-free transformers only"
)


def require_audiocraft():
    """Import audiocraft or explain how to get it."""
    try:
        import audiocraft
        from audiocraft.models import builders  # noqa: F401  (pulls torchaudio, xformers)
    except Exception as exc:  # ImportError, or a torchaudio/torch ABI mismatch (OSError)
        raise MusaeError(
            f"The audiocraft backend needs audiocraft 1.3.0, which is not usable here ({exc}).",
            INSTALL_HINT
            + " (conversion needs no audiocraft: `musae convert` writes a transformers folder).",
        ) from exc
    import audiocraft

    return audiocraft


def audiocraft_available() -> bool:
    try:
        require_audiocraft()
    except MusaeError:
        return False
    return True


class AudiocraftMusicGen(MusicModel):
    """An audiocraft ``LMModel`` + ``CompressionModel`` pair behind the musae interface."""

    # lm, compression_model: audiocraft's LMModel and CompressionModel (audiocraft is untyped)
    def __init__(
        self, lm: Any, compression_model: Any, model_id: str, max_duration: float = 30.0
    ) -> None:
        super().__init__()
        require_audiocraft()
        self.lm = lm.eval()
        self.compression_model = compression_model.eval()
        self.model_id = model_id
        self.num_layers = len(lm.transformer.layers)
        self.d_model = int(lm.dim)
        self.num_codebooks = int(lm.num_codebooks)
        self.codebook_size = int(lm.card)
        self.audio_channels = int(compression_model.channels)
        self.sample_rate = int(compression_model.sample_rate)
        self.frame_rate = float(compression_model.frame_rate)
        self.delays = _delays(lm)
        self.pad_id = self.bos_id = int(lm.special_token_id)
        self.max_duration = float(max_duration)
        if int(compression_model.num_codebooks) != self.num_codebooks:
            raise MusaeError(
                f"The codec of {model_id} uses {compression_model.num_codebooks} codebooks but "
                f"the LM models {self.num_codebooks}.",
                "pair the LM with the compression model it was trained on.",
            )
        param = next(lm.parameters())
        self.device = param.device
        self.dtype = param.dtype

    # --- residual stream -------------------------------------------------------------------
    def residual_module(self, layer: int) -> nn.Module:
        return self.lm.transformer.layers[self.check_layer(layer)]

    # --- audio <-> codes ------------------------------------------------------------------
    @property
    def _codec_device(self) -> torch.device:
        return next(self.compression_model.parameters()).device

    @torch.inference_mode()
    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        if audio.ndim != 2:
            raise MusaeError(
                f"encode() expects mono audio shaped (batch, samples), got {tuple(audio.shape)}.",
                "mix to mono and add a batch dimension.",
            )
        wav = audio.to(self._codec_device, torch.float32)[:, None, :]
        if self.audio_channels == 2:
            wav = wav.repeat(1, 2, 1)  # mono input for a stereo model
        codes, scale = self.compression_model.encode(wav)
        if scale is not None:
            raise MusaeError(
                f"{self.model_id}'s codec renormalises audio, which MusicGen does not use.",
                "use a MusicGen compression model (renormalize: false).",
            )
        return codes.long()

    @torch.inference_mode()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        codes = codes.to(self._codec_device).long()
        return self.compression_model.decode(codes, None).float()

    # --- conditioning ---------------------------------------------------------------------
    def _attributes(self, prompts: list[str]):
        from audiocraft.modules.conditioners import ConditioningAttributes, WavCondition

        attributes = [ConditioningAttributes(text={"description": p or None}) for p in prompts]
        wav_names = [
            name
            for name, cond in self.lm.condition_provider.conditioners.items()
            if type(cond).__name__.startswith(("Chroma", "Wave", "CLAP"))
        ]
        for attr in attributes:
            for name in wav_names:  # no melody / reference audio: audiocraft's null condition
                attr.wav[name] = WavCondition(
                    torch.zeros((1, 1, 1), device=self.device),
                    torch.tensor([0], device=self.device),
                    sample_rate=[self.sample_rate],
                    path=[None],
                )
        return attributes

    def _conditions(self, prompts: list[str], cfg: bool) -> dict:
        """Condition tensors for ``prompts`` (then the null condition when ``cfg``)."""
        from audiocraft.modules.conditioners import ClassifierFreeGuidanceDropout

        attributes = self._attributes(prompts)
        if cfg:
            attributes = attributes + ClassifierFreeGuidanceDropout(p=1.0)(attributes)
        provider = self.lm.condition_provider
        return provider(provider.tokenize(attributes))

    def _prefix_length(self, conditions: dict) -> int:
        prepend = self.lm.fuser.fuse2cond.get("prepend", [])
        return sum(int(conditions[name][0].shape[1]) for name in prepend if name in conditions)

    def _logits(self, ids: torch.Tensor, conditions: dict, ctx: ForwardContext) -> torch.Tensor:
        """(B, K, S) ids -> (B, K, S, V) logits, with ``ctx`` visible to residual hooks."""
        with self._in_context(ctx):
            return self.lm(ids, conditions=[], condition_tensors=conditions)

    # --- the decoding step --------------------------------------------------------------
    @contextlib.contextmanager
    def open_decoder(
        self, request: GenerationRequest, steps: int, cfg: bool
    ) -> Iterator[StepLogits]:
        """Conditions for the prompts and audiocraft's streaming KV cache for one generation;
        a prepended condition (e.g. melody chroma) is fed with the first step at positions < 0."""
        batch = request.batch_size
        conditions = self._conditions(request.batch_prompts(), cfg)
        prefix = self._prefix_length(conditions)

        def step_logits(t: int, step_ids: torch.Tensor) -> torch.Tensor:
            first = t == 0 and prefix > 0
            ctx = ForwardContext(
                positions=torch.arange(-prefix, 1) if first else torch.tensor([t]),
                conditional_rows=batch,
                cfg=cfg,
                frame_rate=self.frame_rate,
            )
            return self._logits(step_ids, conditions, ctx)[:, :, -1].float()

        with self.lm.streaming():
            yield step_logits

    # --- teacher forcing ------------------------------------------------------------------
    @torch.inference_mode()
    def teacher_force(
        self, codes: torch.Tensor, texts: list[str] | None = None
    ) -> TeacherForcedOutput:
        codes = self.check_codes(codes)
        b, _, n_frames = codes.shape
        targets = dp.delay(codes, self.delays, self.pad_id)
        inputs = dp.decoder_inputs(targets, self.bos_id)
        conditions = self._conditions(texts if texts else [""] * b, cfg=False)
        prefix = self._prefix_length(conditions)
        ctx = ForwardContext(
            positions=torch.arange(-prefix, targets.shape[2]),
            conditional_rows=b,
            cfg=False,
            frame_rate=self.frame_rate,
        )
        logits = self._logits(inputs, conditions, ctx).float()  # (B, K, S, V)
        loss = dp.delayed_cross_entropy(logits, targets, self.delays, n_frames)
        return TeacherForcedOutput(loss=loss, n_frames=n_frames)


def _delays(lm: Any) -> list[int]:  # an audiocraft LMModel
    provider = lm.pattern_provider
    if type(provider).__name__ != "DelayedPatternProvider":
        raise MusaeError(
            f"This audiocraft LM uses a {type(provider).__name__}; musae supports MusicGen's "
            "delay pattern only.",
            "use a MusicGen checkpoint (codebooks_pattern.modeling: delay).",
        )
    if getattr(provider, "flatten_first", 0) or getattr(provider, "empty_initial", 0):
        raise MusaeError(
            "This audiocraft LM's delay pattern flattens or pads its first steps.",
            "use a MusicGen checkpoint (flatten_first: 0, empty_initial: 0).",
        )
    return [int(d) for d in provider.delays]


# --- loading ---------------------------------------------------------------------------------
def load_audiocraft_model(
    path: str | Path,
    device: torch.device,
    dtype: torch.dtype,
    model_id: str | None = None,
    allow_download: bool = False,
) -> AudiocraftMusicGen:
    """Load an audiocraft export: a folder with ``state_dict.bin`` (+ the codec file), or the file.

    Files are read with ``torch.load(weights_only=True)``; the config in ``xp.cfg`` rebuilds the
    LM with audiocraft's own builders, exactly like ``audiocraft.models.loaders``.
    """
    require_audiocraft()
    from audiocraft.models import builders
    from omegaconf import OmegaConf

    path = Path(path).expanduser()
    if not is_audiocraft_checkpoint(path):
        raise MusaeError(
            f"{path} is not an audiocraft checkpoint.",
            "point at a folder with state_dict.bin and compression_state_dict.bin.",
        )
    pkg = load_package(lm_file(path))
    cfg = OmegaConf.create(pkg["xp.cfg"])
    OmegaConf.set_struct(cfg, False)
    cfg.device = "cpu"
    cfg.dtype = "float32"
    for key in (
        "conditioners.self_wav.chroma_stem.cache_path",
        "conditioners.args.merge_text_conditions_p",
        "conditioners.args.drop_desc_p",
    ):
        _delete(cfg, key)
    cfg.pop("musae", None)
    lm = _offline(allow_download, builders.get_lm_model, cfg)
    missing, unexpected = lm.load_state_dict(pkg["best_state"], strict=False)
    if missing or unexpected:
        raise MusaeError(
            f"{lm_file(path)} does not match its own config (missing {missing[:4]}, "
            f"unexpected {unexpected[:4]}).",
            "re-export the checkpoint with audiocraft.utils.export.export_lm().",
        )
    folder = path if path.is_dir() else path.parent
    compression = _load_compression(folder, allow_download)
    compression = builders.get_wrapped_compression_model(compression, cfg)
    duration = float(cfg.get("dataset", {}).get("segment_duration", None) or 30.0)
    lm = lm.to(device=device, dtype=dtype).eval()
    compression = compression.to(device).eval()
    return AudiocraftMusicGen(lm, compression, model_id or str(path), max_duration=duration)


def _delete(cfg, dotted: str) -> None:
    node = cfg
    parts = dotted.split(".")
    for part in parts[:-1]:
        if part not in node:
            return
        node = node[part]
    if parts[-1] in node:
        del node[parts[-1]]


def _offline(allow_download: bool, fn, *args):
    """Run ``fn`` (which may fetch T5 or a codec by name) honouring musae's offline default."""
    try:
        return fn(*args)
    except OSError as exc:
        hint = (
            "pre-fetch the named model (e.g. `musae download t5-base` where the hub is "
            "reachable) or point HF_HOME at a cache that has it"
        )
        if allow_download:
            hint = "check your network connection"
        raise MusaeError(
            f"audiocraft could not load a model it refers to by name: {exc}", hint
        ) from exc


def _load_compression(folder: Path, allow_download: bool) -> nn.Module:
    from audiocraft.models import builders
    from audiocraft.models.encodec import CompressionModel, HFEncodecCompressionModel
    from omegaconf import OmegaConf

    file = folder / COMPRESSION_FILE
    if not file.is_file():
        raise MusaeError(
            f"{folder} has no {COMPRESSION_FILE} (the codec the LM was trained with).",
            "export it with audiocraft.utils.export.export_pretrained_compression_model().",
        )
    pkg = load_package(file)
    name = pkg.get("pretrained")
    if name:
        local = folder / name
        if local.is_dir() and (local / "config.json").is_file():  # a transformers Encodec
            from transformers import EncodecModel

            return HFEncodecCompressionModel(EncodecModel.from_pretrained(str(local)))
        return _offline(allow_download, CompressionModel.get_pretrained, name)
    cfg = OmegaConf.create(pkg["xp.cfg"])
    OmegaConf.set_struct(cfg, False)
    cfg.device = "cpu"
    model = builders.get_compression_model(cfg)
    model.load_state_dict(pkg["best_state"])
    return model.eval()
