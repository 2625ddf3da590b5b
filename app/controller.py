"""The Qt side of a session: wraps ``musae_core.workstation.Session`` in signals and jobs.

Widgets call methods here and listen to signals; every slow call (model, SAE, DB, render,
inspector data, save) runs as a job, so the UI thread only ever copies small results.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from app.export_dialog import side_paths
from app.mixer_edits import MixerEdits
from app.stream_feed import StreamFeed
from app.workers import Job, JobManager
from musae_core.workstation import (
    MasterSettings,
    MixerState,
    Project,
    Session,
    Settings,
)
from musae_core.workstation.details import feature_details, load_clip_audio
from musae_core.workstation.takes import TakeRecord

log = logging.getLogger(__name__)


class Workbench(MixerEdits, QObject):
    """Owns the session and the job manager; the one object panels talk to."""

    mixerChanged = Signal(object)  # MixerState
    masterChanged = Signal(object)  # MasterSettings
    resourcesChanged = Signal()  # model / SAE / DB loaded or closed
    featuresLoaded = Signal(list)  # list[FeatureRow]
    searchMatched = Signal(str, object)  # text, {feature id: SearchHit} ranked DB matches
    featureSelected = Signal(int)
    detailsReady = Signal(object)  # FeatureDetails (clip audio still loading)
    clipAudioReady = Signal(int, int, object)  # feature, clip index, ClipView with audio
    takesChanged = Signal()
    currentTakeChanged = Signal(object)  # TakeRecord | None
    renderingChanged = Signal(bool)
    streamStarted = Signal(object)  # StreamFeed: play it while it fills
    streamStopped = Signal(object)  # StreamFeed: cancelled or superseded, silence it
    playRequested = Signal()  # Render+Play without streaming: play the new take from the start
    projectChanged = Signal()
    error = Signal(str, str)  # problem, fix
    status = Signal(str)

    def __init__(self, settings: Settings | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settings = settings or Settings()
        self.jobs = JobManager(self)
        self.jobs.failed.connect(self.error)
        self.session = Session(settings=self.settings)
        self.session.history.listeners.append(self.mixerChanged.emit)
        self.current_take: TakeRecord | None = None
        self.selected_feature: int | None = None
        self.auto_render = True
        self._stream: tuple[Job, StreamFeed] | None = None
        self.dirty = False
        self.mixerChanged.connect(self._mark_dirty)
        self._labels: dict[int, str] = {}  # feature -> best label, from the browser's rows
        self.featuresLoaded.connect(self._remember_labels)

    # --- state accessors -------------------------------------------------------------------
    @property
    def mixer(self) -> MixerState:
        return self.session.mixer

    @property
    def master(self) -> MasterSettings:
        return self.session.project.master

    @property
    def project(self) -> Project:
        return self.session.project

    def steering_unavailable(self) -> str | None:
        return self.loading() or self.session.steering_unavailable()

    def loading(self) -> str | None:
        """While the model is still loading, say so (not "offline": it is on its way)."""
        if self.session.model is not None:
            return None
        if self.jobs.current("model") is None and self.jobs.current("load") is None:
            return None
        name = self.project.model_id or "the model"
        return f"Loading {name}: rendering and steering unlock when it is ready."

    def can_render(self) -> bool:
        return self.session.model is not None

    def _mark_dirty(self, *_args) -> None:
        self.dirty = True

    # --- sessions and resources ------------------------------------------------------------
    def _adopt(self, session: Session) -> None:
        old = self.session
        self.jobs.cancel_all()
        self._stop_stream()
        session.history.listeners.append(self.mixerChanged.emit)
        self.session = session
        self.current_take = session.takes[-1] if session.takes else None
        if old.db is not session.db:  # a new project on the same database keeps it open
            old.close()
        self.selected_feature = None  # the inspector's feature belonged to the old project
        if session.db is None:
            self.featuresLoaded.emit([])  # no stale rows of the old database in the browser
        self._labels = {}
        self.mixerChanged.emit(self.mixer)
        self.masterChanged.emit(self.master)
        self.takesChanged.emit()
        self.currentTakeChanged.emit(self.current_take)
        self.resourcesChanged.emit()
        self.dirty = False  # after the signals: showing the opened mixer is not an edit
        self.projectChanged.emit()

    def new_project(self, model_id: str | None = "tiny") -> None:
        self._adopt(Session(project=Project(model_id=model_id), settings=self.settings))
        if model_id:
            self.load_model(model_id)

    def new_from_current(self) -> None:
        """A new, untitled project on the loaded model, SAE and feature database (a DAW's new
        song keeps its instruments): empty mixer, no takes, default master settings."""
        old = self.session
        project = Project(
            model_id=old.project.model_id,
            sae_path=old.project.sae_path,
            feature_db_path=old.project.feature_db_path,
        )
        session = Session(
            project=project, settings=self.settings, model=old.model, sae=old.sae, db=old.db
        )
        self._adopt(session)
        if session.db is not None:
            self.refresh_features()  # the same features, re-read for the new session

    def open_project(self, path: str | Path):
        """Read the project file, then load its model, SAE, DB and takes on a worker."""
        try:
            session = Session.from_project_file(path, self.settings)
        except Exception as exc:  # MusaeError or unexpected: show it, keep the current project
            self._report(exc)
            return None
        self._adopt(session)
        self.settings.add_recent(path)
        if session.project.feature_db_path:  # no model needed: the browser fills meanwhile
            self.open_feature_db(session.project.feature_db_path)

        def work(progress, cancel):
            return session.open_resources(cancel, progress, feature_db=False)

        def done(warnings: list[str]) -> None:
            for text in warnings:
                self.status.emit(text)
            self.resourcesChanged.emit()  # the "db" job fills the browser on its own
            self.takesChanged.emit()
            self.currentTakeChanged.emit(self.current_take)

        return self._loading_job("load", f"Opening {Path(path).name}", work, done)

    def _loading_job(self, kind: str, title: str, work, done) -> Job:
        """A job that loads the model: panels say "loading" until it ends, however it ends."""

        def failed(problem: str, fix: str) -> None:
            self.error.emit(problem, fix)
            self.resourcesChanged.emit()  # no longer loading: say what is missing instead

        job = self.jobs.start(kind, title, work, done, failed)
        job.signals.cancelled.connect(lambda _job: self.resourcesChanged.emit())
        self.resourcesChanged.emit()
        return job

    def open_feature_db(self, path: str | Path, offline: bool = False):
        """Open a feature database; ``offline`` drops any model (inspection without a GPU)."""
        if offline:
            self._adopt(Session(project=Project(model_id=None), settings=self.settings))
        session = self.session
        return self.jobs.start(
            "db",
            f"Opening {Path(path).name}",
            lambda p, c: session.open_feature_db(path),
            lambda _db: self._resources_loaded(),
        )

    def open_sae(self, path: str | Path):
        session = self.session
        return self.jobs.start(
            "sae",
            f"Loading SAE {Path(path).name}",
            lambda p, c: session.load_sae(path),
            lambda _sae: self._resources_loaded(),
        )

    def load_model(self, model_id: str):
        session = self.session
        return self._loading_job(
            "model",
            f"Loading model {model_id}",
            lambda p, c: session.load_model(model_id, c),
            lambda _m: self._resources_loaded(),
        )

    def _resources_loaded(self) -> None:
        self.resourcesChanged.emit()
        if self.session.db is not None:
            self.refresh_features()

    def refresh_features(self) -> None:
        db = self.session.db
        self.jobs.start(
            "features", "Reading features", lambda p, c: db.query(), self.featuresLoaded.emit
        )

    def search(self, text: str) -> None:
        """Ask the DB which features match ``text`` and how well (on a worker)."""
        db = self.session.db
        if db is None or not text.strip():
            self.searchMatched.emit(text, None)
            return

        def work(progress, cancel):
            return {hit.feature_id: hit for hit in db.search(text)}

        self.jobs.start(
            "search", "Searching", work, lambda hits: self.searchMatched.emit(text, hits)
        )

    # --- features --------------------------------------------------------------------------
    def select_feature(self, feature: int) -> None:
        self.selected_feature = int(feature)
        self.featureSelected.emit(self.selected_feature)
        db = self.session.db
        if db is None:
            return
        rate = self.session.model.sample_rate if self.session.model is not None else None

        def work(progress, cancel):  # signals emitted here are queued to the UI thread
            details = feature_details(db, int(feature), sample_rate=rate, with_audio=False)
            self.detailsReady.emit(details)  # shown at once; the clips' audio follows
            emit = self.clipAudioReady.emit
            load_clip_audio(details.clips, cancel, lambda i, view: emit(int(feature), i, view))

        # one job per click: a newer click cancels it between clips
        self.jobs.start("inspect", f"Inspecting feature {feature}", work)

    def set_favourite(self, feature: int, on: bool) -> None:
        db = self.session.db
        self.jobs.start("favourite", "Saving favourite", lambda p, c: db.set_favourite(feature, on))

    # --- render + takes --------------------------------------------------------------------
    def render(self, play: bool = False):
        """Render with the current mixer; a running render (and its stream) is cancelled first.

        ``play`` (Render+Play, or the auto-play setting) plays the result: with streaming on,
        from the first chunk while the render is still running; otherwise when it is done.
        """
        if not self.can_render():
            self.error.emit("Nothing to render with: no model is loaded.", "open a model.")
            return None
        self._stop_stream()
        master = self.master.next_seed()
        if master != self.master:
            self.project.master = master
            self.masterChanged.emit(master)
        session, mixer = self.session, self.mixer
        play = play or self.settings.auto_play
        feed = self._make_feed(master) if play and self.settings.stream_playback else None
        self.renderingChanged.emit(True)

        def work(progress, cancel) -> TakeRecord:
            on_chunk = feed.push if feed is not None else None
            return session.render(master, mixer, progress, cancel, on_chunk)

        def done(take: TakeRecord) -> None:
            if self._stream is not None and self._stream[1] is feed:
                self._stream = None  # the take replaces the streamed audio in place
            self.renderingChanged.emit(False)
            self.dirty = True
            self.takesChanged.emit()
            self.set_current_take(take)
            if play and feed is None:
                self.playRequested.emit()

        def failed(problem: str, fix: str) -> None:
            self._stop_stream(feed)
            self.renderingChanged.emit(False)
            self.error.emit(problem, fix)

        job = self.jobs.start("render", "Rendering", work, done, failed)
        job.signals.cancelled.connect(self._render_cancelled)
        if feed is not None:
            self._stream = (job, feed)
            self.streamStarted.emit(feed)
        return job

    def _make_feed(self, master: MasterSettings) -> StreamFeed | None:
        try:
            total = self.session.expected_samples(master)
        except Exception:  # e.g. a duration the model refuses: the render reports it
            return None
        return StreamFeed(total, self.session.model.sample_rate)

    def _stop_stream(self, feed: StreamFeed | None = None) -> None:
        """Silence the streamed partial take (``feed`` given: only if it is still that one)."""
        if self._stream is None or (feed is not None and self._stream[1] is not feed):
            return
        _job, current = self._stream
        self._stream = None
        current.close()
        self.streamStopped.emit(current)

    @property
    def streaming(self) -> StreamFeed | None:
        """The feed of the render that is playing while it streams, if any."""
        return self._stream[1] if self._stream is not None else None

    def _render_cancelled(self, job) -> None:
        if self._stream is not None and self._stream[0] is job:
            self._stop_stream()
        if self.jobs.current("render") is None:
            self.renderingChanged.emit(False)

    def cancel_render(self) -> bool:
        """Esc: stop the render and, at once, the playback of its partial take."""
        self._stop_stream()
        return self.jobs.cancel("render")

    def set_current_take(self, take: TakeRecord | None) -> None:
        self.current_take = take
        self.currentTakeChanged.emit(take)

    def recall_take(self, take: TakeRecord) -> None:
        """Make a take current and restore its mixer and master (one undo step)."""
        self.session.history.apply(take.mixer, f"recall take {take.take_id}")
        self.project.master = take.master
        self.masterChanged.emit(take.master)
        self.set_current_take(take)

    def export(self, path: str | Path, which: str = "steered"):
        """Write the take's ``which`` side ("steered", "unsteered" or "both": two files)."""
        take, session = self.current_take, self.session
        if take is None:
            self.error.emit("There is no take to export yet.", "press Render first.")
            return None
        targets = side_paths(path, which)
        names = " and ".join(f"{p.name} ({side})" for p, side in targets)

        def work(progress, cancel):
            return [session.export(take, p, side)[0] for p, side in targets]

        return self.jobs.start(
            "export",
            f"Exporting {names}",
            work,
            lambda paths: self.status.emit(f"Exported {names} to {paths[0].parent}"),
        )

    def save_project(
        self, path: str | Path | None = None, quiet: bool = False, copy_resources: bool = False
    ):
        """Save (a worker job); ``copy_resources`` copies the SAE and DB into the folder too."""
        session = self.session
        target = path or session.project.path
        if target is None:
            self.error.emit("This project has not been saved yet.", "use File > Save As.")
            return None

        def done(saved: Path) -> None:
            self.dirty = False
            self.settings.add_recent(saved)
            if not quiet:
                self.status.emit(f"Saved {saved}")
            self.projectChanged.emit()

        return self.jobs.start(
            "save",
            "Saving project",
            lambda p, c: session.save_project(target, copy_resources),
            done,
        )

    def _report(self, exc: Exception) -> None:
        problem = getattr(exc, "problem", str(exc))
        self.error.emit(problem, getattr(exc, "fix", ""))
