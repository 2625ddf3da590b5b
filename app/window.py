"""The main window: dockable panels around the arrangement, menus, layout memory, autosave."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QFileDialog, QLabel, QMainWindow, QProgressBar

from app.arrangement import ArrangementView
from app.browser import BrowserPanel
from app.controller import Workbench
from app.errors import show_error
from app.export_dialog import ExportDialog
from app.export_pages import install as install_page_export
from app.feature_map import install_feature_map
from app.help_menu import FIRST_STEPS, HelpDialog, about_html, shortcuts_html
from app.inspector import InspectorPanel
from app.jobs_panel import JobsPanel
from app.master_panel import MasterPanel
from app.midi_learn import MidiLearn
from app.mixer_panel import MixerPanel
from app.playback import AudioOutput
from app.save_as import SaveAsDialog
from app.settings_dialog import SettingsDialog
from app.transport_bar import TransportBar
from app.transport_state import TransportState
from app.unsaved import Prompt, may_discard
from app.unsaved import ask as ask_unsaved
from app.window_layout import default_size, dock_sizes, scrolling
from musae_core import threads
from musae_core.workstation import Settings
from musae_core.workstation.settings import config_dir, data_dir
from musae_core.workstation.transport import TransportPrefs

log = logging.getLogger(__name__)
PROJECT_FILTER = "musae project (*.musae.json)"
DB_FILTER = "Feature database (*.db *.sqlite);;All files (*)"
LAYOUT_KEY = "windowState2"  # v2: the arrangement got the room; older saved layouts are ignored
LOAD_JOBS = ("load", "model", "db")  # shown in the status bar while the window comes up


class MainWindow(QMainWindow):
    def __init__(
        self,
        settings: Settings | None = None,
        qsettings: QSettings | None = None,
        settings_path: Path | None = None,
    ) -> None:
        super().__init__()
        self.setWindowTitle("musae")
        self.settings_path = settings_path
        self.qsettings = qsettings or QSettings("musae", "musae")
        self.bench = Workbench(settings or Settings(), self)
        self.unsaved_prompt: Prompt = ask_unsaved  # tests and scripted walks answer it themselves
        self.midi = MidiLearn(self.bench, self)  # right-click a knob > MIDI learn
        self.midi.open_inputs()
        self.output = AudioOutput(self.bench.settings.audio_device, self)
        self.transport = TransportState(self.output, self)
        self.arrangement = ArrangementView(self.bench, self.transport)
        self.setCentralWidget(self.arrangement)
        self.browser = BrowserPanel(self.bench)
        self.inspector = InspectorPanel(self.bench, self.transport)
        self.mixer = MixerPanel(self.bench)
        self.master = MasterPanel(self.bench)
        self.jobs = JobsPanel(self.bench.jobs)
        self.transport_bar = TransportBar(self.bench, self.transport, self)
        self.addToolBar(Qt.TopToolBarArea, self.transport_bar)
        self.docks = {
            "browser": self._dock("Feature browser", self.browser, Qt.LeftDockWidgetArea),
            "inspector": self._dock("Inspector", self.inspector, Qt.RightDockWidgetArea),
            "mixer": self._dock("Steering mixer", self.mixer, Qt.BottomDockWidgetArea),
            "master": self._dock("Master", scrolling(self.master), Qt.BottomDockWidgetArea),
            "jobs": self._dock("Jobs", self.jobs, Qt.BottomDockWidgetArea),
        }
        self.docks["map"] = install_feature_map(self)
        self.tabifyDockWidget(self.docks["master"], self.docks["jobs"])
        self.docks["master"].raise_()
        self._default_state = self.saveState()
        self._menus()
        install_page_export(self)
        self._load_bar()
        self.bench.error.connect(lambda p, f: show_error(self, p, f))
        self.bench.status.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.bench.projectChanged.connect(self._title)
        self._restored_project = None
        self.bench.projectChanged.connect(self._restore_transport)
        self.bench.mixerChanged.connect(lambda _m: self._title())
        self.bench.currentTakeChanged.connect(self.transport.load_take)
        self.bench.streamStarted.connect(self.transport.start_stream)
        self.bench.streamStopped.connect(self.transport.stop_stream)
        self.bench.playRequested.connect(self.transport.play_from_start)
        self.bench.resourcesChanged.connect(self._resources)
        self.autosave = QTimer(self)
        self.autosave.timeout.connect(self._autosave)
        self._restart_autosave()
        self._default_size()
        self._restore_layout()
        self._title()
        self._audio_status()

    def _dock(self, title: str, widget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title.replace(" ", "_"))
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _menus(self) -> None:
        bar = self.menuBar()

        def add(menu, text, slot, shortcut=None) -> QAction:
            act = menu.addAction(text)
            act.triggered.connect(lambda _on=False: slot())
            if shortcut:
                act.setShortcut(QKeySequence(shortcut))
            return act

        file = bar.addMenu("&File")
        add(file, "New project", self.new_project, QKeySequence.New)
        add(file, "Open project…", self.open_dialog, QKeySequence.Open)
        self.recent_menu = file.addMenu("Open recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        add(file, "Open feature database (offline)…", self.open_db_dialog)
        add(file, "Open SAE…", self.open_sae_dialog)
        file.addSeparator()
        add(file, "Save project", self.save, QKeySequence.Save)
        add(file, "Save project as…", self.save_as, QKeySequence.SaveAs)
        add(file, "Export take as WAV…", self.export_dialog)
        file.addSeparator()
        quit_action = add(file, "Quit", self.close, QKeySequence("Ctrl+Q"))  # Quit is unset on
        quit_action.setShortcutContext(Qt.ApplicationShortcut)  # some platforms (offscreen)
        edit = bar.addMenu("&Edit")
        self.undo_action = add(edit, "Undo", self.bench.undo, QKeySequence.Undo)
        self.redo_action = add(edit, "Redo", self.bench.redo, QKeySequence.Redo)
        edit.aboutToShow.connect(self._edit_menu)
        edit.addSeparator()
        add(edit, "Find feature", self.browser.search.setFocus, QKeySequence.Find)
        add(edit, "Settings…", self.settings_dialog)
        add(edit, "MIDI…", lambda: self.midi.settings_dialog(self) and self._save_settings())
        edit.addSeparator()  # punch-in (app/arrangement.py): marker at the playhead, re-render
        add(edit, "Set punch-in marker at playhead", self.arrangement.mark_punch_at_playhead, "P")
        add(edit, "Punch in from marker", self.arrangement.punch_in, "Shift+P")
        view = bar.addMenu("&View")
        for dock in self.docks.values():
            view.addAction(dock.toggleViewAction())
        add(view, "Reset layout", self.reset_layout)
        help_menu = bar.addMenu("&Help")
        add(help_menu, "Keyboard shortcuts", self.show_shortcuts, QKeySequence.HelpContents)
        add(help_menu, "First steps", self.show_first_steps)
        add(help_menu, "About musae", self.show_about)

    def _edit_menu(self) -> None:
        history = self.bench.session.history
        self.undo_action.setEnabled(history.can_undo)
        self.redo_action.setEnabled(history.can_redo)
        self.undo_action.setText(f"Undo {history.undo_label()}".strip())
        self.redo_action.setText(f"Redo {history.redo_label()}".strip())

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for path in self.bench.settings.recent_projects:
            act = self.recent_menu.addAction(path)
            act.triggered.connect(lambda _on=False, p=path: self.open_project(p))

    def _title(self) -> None:
        path = self.bench.project.path
        name = path.name if path else "untitled"
        self.setWindowTitle(f"{name}{' *' if self.bench.dirty else ''} — musae")

    def _audio_status(self) -> None:
        """A permanent note in the status bar when there is no audio output device."""
        note = QLabel(objectName="audio_status")
        note.setText("" if self.output.available else self.output.reason)
        note.setVisible(not self.output.available)
        self.statusBar().addPermanentWidget(note)

    def _resources(self) -> None:
        reason = self.bench.steering_unavailable()
        self.statusBar().showMessage(reason or "Ready: steer features with the mixer.", 0)

    # --- first run: loading shown as loading ---------------------------------------------------
    def _load_bar(self) -> None:
        """A progress bar in the status bar while the project, model or database load."""
        self.load_progress = QProgressBar(maximumWidth=220, textVisible=True)
        self.load_progress.setObjectName("loadProgress")
        self.load_progress.hide()
        self.statusBar().addPermanentWidget(self.load_progress)
        self.bench.jobs.jobStarted.connect(self._load_job)
        self.bench.jobs.jobProgress.connect(self._load_job)
        self.bench.jobs.jobEnded.connect(self._load_job)

    def _load_job(self, job) -> None:
        if job.kind not in LOAD_JOBS:
            return
        running = [j for k in LOAD_JOBS if (j := self.bench.jobs.current(k)) is not None]
        self.load_progress.setVisible(bool(running))
        if running:
            shown = running[0]
            self.load_progress.setFormat(f"{shown.title}: %v of %m steps")
            self.load_progress.setRange(0, shown.total_steps)  # 0 steps: a busy indicator
            self.load_progress.setValue(shown.done_steps)

    # --- help ----------------------------------------------------------------------------------
    def _help(self, title: str, html: str) -> HelpDialog:
        dialog = HelpDialog(title, html, self)
        dialog.open()  # modal (takes the keyboard), never blocks the caller
        return dialog

    def show_shortcuts(self) -> HelpDialog:
        return self._help("Keyboard shortcuts", shortcuts_html(self))

    def show_first_steps(self) -> HelpDialog:
        return self._help("First steps", FIRST_STEPS)

    def show_about(self) -> HelpDialog:
        from app.errors import log_file

        settings = self.settings_path or config_dir() / "settings.json"
        return self._help(
            "About musae", about_html(str(data_dir()), str(log_file()), str(settings))
        )

    # --- layout --------------------------------------------------------------------------------
    def _default_size(self) -> None:
        default_size(self)

    def _dock_sizes(self) -> None:
        dock_sizes(self)

    def reset_layout(self) -> None:
        self.restoreState(self._default_state)
        self._dock_sizes()

    def _refocus(self) -> None:
        """After a file dialog closes, give the keyboard back to this window: no window is
        active otherwise (X11), and Ctrl+Q and the single-key shortcuts would do nothing."""
        self.raise_()
        self.activateWindow()

    # --- dialogs -------------------------------------------------------------------------------
    def new_project(self) -> None:
        """A new, untitled project on the same model, SAE and features (asks first when the
        current one has unsaved changes)."""
        if may_discard(self, "start a new project"):
            self.bench.new_from_current()

    def open_project(self, path: str) -> None:
        if may_discard(self, f"open {Path(path).name}"):
            self.bench.open_project(path)

    def open_dialog(self) -> None:
        if not may_discard(self, "open another project"):
            return
        path, _ = QFileDialog.getOpenFileName(self, "Open project", "", PROJECT_FILTER)
        self._refocus()
        if path:
            self.bench.open_project(path)

    def open_db_dialog(self) -> None:
        offline = self.bench.session.model is None  # without a model: a new offline session
        if offline and not may_discard(self, "open a feature database on its own"):
            return
        path, _ = QFileDialog.getOpenFileName(self, "Open feature database", "", DB_FILTER)
        self._refocus()
        if path:
            self.bench.open_feature_db(path, offline=offline)

    def open_sae_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open SAE folder")
        self._refocus()
        if path:
            self.bench.open_sae(path)

    def save(self) -> None:
        if self.bench.project.path is None:
            self.save_as()
        else:
            self._store_transport()
            self.bench.save_project()

    def save_as(self) -> None:
        """Takes always go into the new folder; the SAE/DB are copied in if the user ticks it."""
        current = self.bench.project.path
        start = str(current.parent / "song.musae.json") if current else "song.musae.json"
        choice = SaveAsDialog(self, start).chosen()
        self._refocus()
        if choice is not None:
            path, copy = choice
            self._store_transport()
            self.bench.save_project(path, copy_resources=copy)

    def export_dialog(self) -> None:
        """Ctrl+E: opens in the project's exports folder on the side A/B plays (both offered)."""
        take = self.bench.current_take
        if take is None:
            show_error(self, "There is no take to export yet.", "press Render first.")
            return
        dialog = ExportDialog(self, take.take_id, self.transport.ab, self.bench.project.path)
        if dialog.exec() and dialog.selectedFiles():
            self.bench.export(dialog.selectedFiles()[0], dialog.side())

    def settings_dialog(self) -> None:
        dialog = SettingsDialog(self.bench.settings, self)
        if dialog.exec():
            dialog.apply()
            threads.set_setting(self.bench.settings.threads)
            self.transport_bar.sync_settings()
            self._save_settings()
            self._restart_autosave()

    # --- persistence ---------------------------------------------------------------------------
    def _restart_autosave(self) -> None:
        seconds = self.bench.settings.autosave_seconds
        self.autosave.stop()
        if seconds > 0:
            self.autosave.start(seconds * 1000)

    def _autosave(self) -> None:
        if self.bench.dirty and self.bench.project.path is not None:
            self._store_transport()
            self.bench.save_project(quiet=True)

    def _store_transport(self) -> None:
        """Copy A/B, loop and auto-render into the project so a reopen restores them."""
        t = self.transport
        self.bench.project.transport = TransportPrefs(
            ab=t.ab,
            loop=t.loop_enabled,
            loop_region=t.loop_region,
            auto_render=self.bench.auto_render,
        )

    def _restore_transport(self) -> None:
        """A newly opened project: A/B, loop and auto-render as they were saved."""
        project = self.bench.project
        if project is self._restored_project:
            return
        self._restored_project = project
        prefs = project.transport
        self.mixer.auto.setChecked(prefs.auto_render)
        self.bench.auto_render = prefs.auto_render
        self.transport.set_ab(prefs.ab)
        if prefs.loop_region is not None:
            self.transport.set_loop_region(*prefs.loop_region)
        self.transport_bar.loop_action.setChecked(prefs.loop)
        self.transport.set_loop_enabled(prefs.loop)

    def _restore_layout(self) -> None:
        geometry = self.qsettings.value("geometry")
        state = self.qsettings.value(LAYOUT_KEY)
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state)
        self._sized_on_show = state is not None  # no saved layout: size the docks once shown

    def showEvent(self, event) -> None:
        """Dock sizes set before the first show are laid out against a window that is not on
        screen yet (Qt keeps the docks' size hints instead), so the default layout is applied
        again once the window is shown at its real size."""
        super().showEvent(event)
        if not self._sized_on_show:
            self._sized_on_show = True
            QTimer.singleShot(0, self._dock_sizes)

    def _save_settings(self) -> None:
        try:
            self.bench.settings.save(self.settings_path)
        except OSError as exc:
            log.warning("cannot save settings: %s", exc)

    def closeEvent(self, event) -> None:
        if not may_discard(self, "quit"):
            event.ignore()
            return
        self.qsettings.setValue("geometry", self.saveGeometry())
        self.qsettings.setValue(LAYOUT_KEY, self.saveState())
        self._save_settings()
        self.midi.close()
        self.bench.jobs.cancel_all()
        self.output.stop()
        self.output.close()
        self.bench.jobs.wait(5000)
        super().closeEvent(event)
