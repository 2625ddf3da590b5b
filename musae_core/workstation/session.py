"""The session facade the GUI talks to: model, SAE, feature DB, mixer history, renders, export.

Pure Python and thread-aware: long calls (``load_model``, ``render``, ``feature_details``) are
meant for worker threads; one generation runs at a time on the shared model (a lock), so a new
render waits only until the cancelled one has stopped.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from musae_core.errors import MusaeError
from musae_core.jobs import CancelToken, ProgressFn, check
from musae_core.workstation.history import History
from musae_core.workstation.master import MasterSettings
from musae_core.workstation.mixer import MixerState
from musae_core.workstation.project import Project
from musae_core.workstation.session_files import ProjectFiles
from musae_core.workstation.settings import Settings
from musae_core.workstation.takes import TakeRecord, matched_gains

if TYPE_CHECKING:
    from musae_core.features.db import FeatureDB
    from musae_core.models.base import GenerationRequest, MusicModel, Take
    from musae_core.models.streaming import AudioChunk
    from musae_core.punch.live import LiveStream
    from musae_core.punch.takes import Recipe
    from musae_core.sae.architectures import SparseAutoencoder
    from musae_core.steering.interventions import Intervention
    from musae_core.workstation.concepts import FeatureConcepts

log = logging.getLogger(__name__)


@dataclass
class StreamChunk:
    """A contiguous piece of the pass being streamed, for playback before the render ends.

    ``audio`` is (channels, samples) float32 starting at ``start_sample``; ``total_samples`` is
    the finished take's length, known from the first chunk so a player can size its buffer once.
    """

    audio: np.ndarray
    start_sample: int
    total_samples: int
    sample_rate: int
    final: bool
    elapsed: float  # seconds since the pass started


ChunkFn = Callable[[StreamChunk], None]


@dataclass
class _Rendered:
    audio: np.ndarray  # (channels, samples)
    residual: torch.Tensor | None  # (frames, d_model) at the SAE layer
    take: Take
    recipe: Recipe | None = None  # of a live-steered stream


@dataclass
class Session(ProjectFiles):
    """One open workstation session; the GUI keeps no model state of its own."""

    project: Project = field(default_factory=Project)
    settings: Settings = field(default_factory=Settings)
    model: MusicModel | None = None
    sae: SparseAutoencoder | None = None
    db: FeatureDB | None = None  # opened read-only; the GUI reads its whole API through it

    def __post_init__(self) -> None:
        self.history: History[MixerState] = History(self.project.mixer)
        self.history.listeners.append(self._store_mixer)
        self._lock = threading.Lock()
        self._unsteered: tuple[object, _Rendered] | None = None
        self._next_id = max((t.take_id for t in self.project.takes), default=0) + 1
        self.db_warning: str | None = None  # a legacy feature DB accepted without SAE identity
        self.live: LiveStream | None = None  # of the steered pass streaming now

    # --- state --------------------------------------------------------------------------------
    @property
    def mixer(self) -> MixerState:
        return self.history.state

    def _store_mixer(self, state: MixerState) -> None:
        self.project.mixer = state

    @property
    def takes(self) -> list[TakeRecord]:
        return self.project.takes

    def steering_unavailable(self) -> str | None:
        """Why steering is off (shown beside the disabled controls), or None when it works."""
        if self.model is None and self.project.model_id:
            return (
                f"Model {self.project.model_id} is not loaded, so nothing can be rendered or "
                "steered yet. Browse features and listen to cached clips meanwhile."
            )
        if self.model is None:
            return (
                "Offline inspection: no model is loaded, so nothing can be rendered or steered. "
                "Browse features and listen to cached clips; open a project with a model to steer."
            )
        if self.sae is None:
            return "No SAE loaded: takes render unsteered. Open an SAE (File > Open SAE) to steer."
        if self.sae.cfg.d_in != self.model.d_model:
            return (
                f"The SAE reads {self.sae.cfg.d_in}-wide activations but {self.model.model_id} "
                f"has d_model {self.model.d_model}: they do not belong together."
            )
        return None

    # --- loading (worker threads) -------------------------------------------------------------
    def load_model(
        self, model_id: str | None = None, cancel: CancelToken | None = None
    ) -> MusicModel:
        """Load the project's model (slow: call on a worker)."""
        from musae_core.models.loading import load_model

        model_id = model_id or self.project.model_id
        if not model_id:
            raise MusaeError("The project names no model.", "pick a model in File > Open Model.")
        if self.settings.model_cache:
            os.environ.setdefault("HF_HOME", self.settings.model_cache)
        model = load_model(model_id, device=self.settings.device, dtype=self.settings.dtype)
        check(cancel)
        with self._lock:
            self.model, self._unsteered = model, None
        self.project.model_id = model_id
        return model

    def load_sae(self, path: str | os.PathLike[str]) -> SparseAutoencoder:
        """Load an SAE; refused (``SaeMismatch``) when the open feature DB describes another."""
        from musae_core.sae import load_sae

        device = self.model.device if self.model is not None else "cpu"
        sae = load_sae(path, device=device)
        self._check_pair(sae, self.db, f"SAE {path}")
        with self._lock:
            self.sae, self._unsteered = sae, None
        self.project.sae_path = str(Path(path).resolve())
        return sae

    def open_feature_db(self, path: str | os.PathLike[str]) -> FeatureDB:
        """Open a feature DB; refused (``SaeMismatch``) when it describes another SAE than the
        loaded one, so the browser never shows one SAE's features for another's knobs."""
        from musae_core.features import FeatureDB

        started = time.perf_counter()
        try:
            db = FeatureDB.open(path, readonly=True)
        except MusaeError as exc:  # the engine's fix names CLI commands; say it for the app
            raise MusaeError(
                f"{exc.problem} It must be a feature database written by musae's analysis.",
                "pick the .db file that was written next to your SAE (File > Open feature "
                "database), or open a project that names one.",
            ) from exc
        try:
            self._check_pair(self.sae, db, "the loaded SAE")
        except MusaeError:
            db.close()
            raise
        self.db = db
        self.project.feature_db_path = str(Path(path).resolve())
        log.info("opened feature database %s in %.2f s", path, time.perf_counter() - started)
        return db

    def _check_pair(
        self, sae: SparseAutoencoder | None, db: FeatureDB | None, sae_label: str
    ) -> None:
        """Raise when ``db`` was analysed from another SAE; keep a legacy DB's warning."""
        self.db_warning = None
        if sae is None or db is None:
            return
        from musae_core.features.sae_match import check_db_matches_sae

        self.db_warning = check_db_matches_sae(db, sae, sae_label)
        if self.db_warning:
            log.warning("%s", self.db_warning)

    def concepts(self, feature: int | None = None) -> FeatureConcepts:
        """Concepts with groups, and ``feature``'s groups (``workstation.concepts``)."""
        from musae_core.workstation.concepts import feature_concepts

        return feature_concepts(self.db, feature)

    def _loaded_model(self) -> MusicModel:
        if self.model is None:
            raise MusaeError(self.steering_unavailable() or "No model.", "open a model first.")
        return self.model

    def _loaded_sae(self) -> SparseAutoencoder:
        if self.sae is None:
            raise MusaeError("No SAE is loaded.", "open an SAE (File > Open SAE) to steer.")
        return self.sae

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
        self.db = None

    # --- steering + rendering -----------------------------------------------------------------
    def interventions(self, mixer: MixerState, master: MasterSettings) -> list[Intervention]:
        """The audible channels as engine interventions (empty when steering is unavailable)."""
        if self.steering_unavailable() is not None:
            return []
        from musae_core.sae import feature_intervention
        from musae_core.steering import Envelope

        sae, result = self._loaded_sae(), []
        for channel in mixer.audible():
            envelope = Envelope(channel.envelope) if channel.envelope else None
            result.append(
                feature_intervention(
                    sae,
                    channel.feature,
                    channel.strength,
                    mode=channel.mode,
                    branch=master.steer_branch,
                    envelope=envelope,
                    sae_path=self.project.sae_path or "",
                    db=self.db,
                )
            )
        return result

    def expected_samples(self, master: MasterSettings) -> int:
        """Samples per take channel for ``master`` (a player sizes its stream buffer from it)."""
        model = self._loaded_model()
        return round(model.n_frames_for(master.duration) * model.sample_rate / model.frame_rate)

    def _generate(
        self,
        request: GenerationRequest,
        interventions: list[Intervention],
        progress: ProgressFn | None,
        cancel: CancelToken | None,
        on_chunk: ChunkFn | None = None,
        live: bool = False,
    ) -> _Rendered:
        """One pass through the engine's ``render`` (steering, capture at the SAE layer,
        streaming); with ``live`` and ``on_chunk`` knob changes land mid-take (``self.live``)."""
        from musae_core.render import render

        model, sae = self._loaded_model(), self.sae
        steerable = sae is not None and not self.steering_unavailable()
        layers = [sae.cfg.layer] if sae is not None and steerable else []
        live_stream = None
        if live and on_chunk is not None:  # knob changes land mid-take (musae_core.punch.live)
            from musae_core.punch.live import LiveStream

            live_stream = LiveStream(model, request, interventions)
        chunk_fn = None if on_chunk is None else self._chunk_fn(request, on_chunk)
        self.live = live_stream
        try:
            take = render(
                model,
                request,
                interventions,
                progress,
                cancel,
                capture_layers=layers,
                on_chunk=chunk_fn,
                live=live_stream,
            )
        finally:
            self.live = None
        residual = take.activations[layers[0]][0] if layers else None
        recipe = live_stream.recipe() if live_stream is not None else None
        return _Rendered(np.ascontiguousarray(take.audio[0], np.float32), residual, take, recipe)

    def _chunk_fn(
        self, request: GenerationRequest, on_chunk: ChunkFn
    ) -> Callable[[AudioChunk], None]:
        """The engine's chunks as ``StreamChunk``s (one channel row, the take's full length).

        The final chunk carries the same take ``generate`` returns (same codes and audio), so
        streaming changes when audio is heard, never what is stored."""
        model = self._loaded_model()
        n_frames = model.n_frames_for(request.duration)
        total = round(n_frames * model.sample_rate / model.frame_rate)

        def forward(chunk: AudioChunk) -> None:
            on_chunk(
                StreamChunk(
                    audio=chunk.audio[0],
                    start_sample=chunk.start_sample,
                    total_samples=total,
                    sample_rate=chunk.sample_rate,
                    final=chunk.final,
                    elapsed=chunk.elapsed,
                )
            )

        return forward

    def _lanes(self, residual: torch.Tensor | None, features: list[int]) -> dict[int, np.ndarray]:
        if residual is None or not features:
            return {}
        sae = self._loaded_sae()
        with torch.no_grad():
            codes = sae.encode(residual.to(sae.W_enc.device, sae.W_enc.dtype))
        picked = codes[:, features].float().cpu().numpy()
        return {f: picked[:, i].copy() for i, f in enumerate(features)}

    def render(
        self,
        master: MasterSettings | None = None,
        mixer: MixerState | None = None,
        progress: ProgressFn | None = None,
        cancel: CancelToken | None = None,
        on_chunk: ChunkFn | None = None,
    ) -> TakeRecord:
        """Render the unsteered and the steered take with the same seed (for A/B).

        The unsteered take is reused while the master settings are unchanged, so turning a
        knob costs one generation. With ``on_chunk`` the audible pass (the steered one) is
        streamed first, chunk by chunk on this thread, so playback can start early; the
        returned take is identical either way (each pass seeds its own RNG, so order does not
        matter). Raises ``Cancelled`` when ``cancel`` is set; nothing is added to the history.
        """
        if self.model is None:
            raise MusaeError(self.steering_unavailable() or "No model.", "open a model first.")
        master = master or self.project.master
        mixer = mixer if mixer is not None else self.mixer
        started = time.perf_counter()
        with self._lock:
            check(cancel)
            request = master.request()
            interventions = self.interventions(mixer, master)
            steering = any(iv.active for iv in interventions)
            cached = self._unsteered is not None and self._unsteered[0] == request
            phases = 1 + (not cached and steering)
            done_phases = [0]

            def report(done: int, total: int) -> None:
                if progress is not None:
                    progress(done_phases[0] * total + done, phases * total)

            def plain_pass(chunks: ChunkFn | None) -> _Rendered:
                if cached and self._unsteered is not None:
                    return self._unsteered[1]
                rendered = self._generate(request, [], report, cancel, chunks)
                self._unsteered = (request, rendered)
                done_phases[0] += 1
                return rendered

            if not steering:
                plain = steered = plain_pass(on_chunk)
            elif on_chunk is not None:  # the audible pass first: it is the one being streamed
                steered = self._generate(request, interventions, report, cancel, on_chunk, True)
                done_phases[0] += 1
                plain = plain_pass(None)
            else:
                plain = plain_pass(None)
                steered = self._generate(request, interventions, report, cancel)
            features = mixer.features()
            take = TakeRecord(
                take_id=self._next_id,
                master=master,
                mixer=mixer,
                sample_rate=self.model.sample_rate,
                frame_rate=self.model.frame_rate,
                steered=steered.audio,
                unsteered=plain.audio,
                gains=matched_gains(plain.audio, steered.audio),
                activations=self._lanes(steered.residual, features),
                unsteered_activations=self._lanes(plain.residual, features),
            )
            from musae_core.render import take_metadata

            take.metadata = take_metadata(self.model, steered.take)
            from musae_core.workstation.punch import attach_recipe

            attach_recipe(take, steered, request, interventions, mixer)
            take.render_seconds = time.perf_counter() - started
            self._next_id += 1
        self.project.takes.append(take)
        return take

    # --- export + projects --------------------------------------------------------------------
    def export(
        self, take: TakeRecord, path: str | os.PathLike[str], which: str = "steered"
    ) -> tuple[Path, Path]:
        """Write a take as WAV plus JSON sidecar (recipe, mixer, A/B gains); returns both paths."""
        from musae_core.audio.io import write_take_files

        metadata = {
            **take.metadata,
            "take": which,
            "take_id": take.take_id,
            "mixer": take.mixer.to_dict(),
            "master": take.master.to_dict(),
            "ab_gains": {"unsteered": take.gains[0], "steered": take.gains[1]},
            "sae_path": self.project.sae_path,
            "feature_db_path": self.project.feature_db_path,
        }
        return write_take_files(path, take.audio(which), take.sample_rate, metadata)

    @classmethod
    def from_project_file(
        cls, path: str | os.PathLike[str], settings: Settings | None = None
    ) -> Session:
        """Open a project: read the file (fast); models, SAEs and DBs load in ``open_resources``."""
        return cls(project=Project.load(path), settings=settings or Settings())
