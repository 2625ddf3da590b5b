"""The main window: dockable panels around the arrangement, menus, layout memory, autosave."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QFileDialog, QMainWindow

from app.arrangement import ArrangementView
from app.browser import BrowserPanel
from app.controller import Workbench
from app.errors import show_error
from app.export_pages import install as install_page_export
from app.inspector import InspectorPanel
from app.jobs_panel import JobsPanel
from app.master_panel import MasterPanel
from app.mixer_panel import MixerPanel
from app.playback import AudioOutput
from app.settings_dialog import SettingsDialog
from app.transport_bar import TransportBar
from app.transport_state import TransportState
from musae_core.workstation import Settings

log = logging.getLogger(__name__)
PROJECT_FILTER = "musae project (*.musae.json)"
DB_FILTER = "Feature database (*.db *.sqlite);;All files (*)"


class MainWindow(QMainWindow):
    def __init__(self, settings: Settings | None = None, qsettings: QSettings | None = None,
                 settings_path: Path | None = None) -> None:  # fmt: skip
        super().__init__()
        self.setWindowTitle("musae")
        self.settings_path = settings_path
        self.qsettings = qsettings or QSettings("musae", "musae")
        self.bench = Workbench(settings or Settings(), self)
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
            "master": self._dock("Master", self.master, Qt.BottomDockWidgetArea),
            "jobs": self._dock("Jobs", self.jobs, Qt.BottomDockWidgetArea),
        }
        self.tabifyDockWidget(self.docks["master"], self.docks["jobs"])
        self.docks["master"].raise_()
        self._default_state = self.saveState()
        self._menus()
        install_page_export(self)
        self.bench.error.connect(lambda p, f: show_error(self, p, f))
        self.bench.status.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.bench.projectChanged.connect(self._title)
        self.bench.mixerChanged.connect(lambda _m: self._title())
        self.bench.currentTakeChanged.connect(self.transport.load_take)
        self.bench.streamStarted.connect(self.transport.start_stream)
        self.bench.streamStopped.connect(self.transport.stop_stream)
        self.bench.playRequested.connect(self.transport.play_from_start)
        self.bench.resourcesChanged.connect(self._resources)
        self.autosave = QTimer(self)
        self.autosave.timeout.connect(self._autosave)
        self._restart_autosave()
        self.resize(1500, 920)
        self._restore_layout()
        self._title()

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
        add(file, "New project", self.bench.new_project, QKeySequence.New)
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
        add(file, "Quit", self.close, QKeySequence.Quit)
        edit = bar.addMenu("&Edit")
        self.undo_action = add(edit, "Undo", self.bench.undo, QKeySequence.Undo)
        self.redo_action = add(edit, "Redo", self.bench.redo, QKeySequence.Redo)
        edit.aboutToShow.connect(self._edit_menu)
        edit.addSeparator()
        add(edit, "Find feature", self.browser.search.setFocus, QKeySequence.Find)
        add(edit, "Settings…", self.settings_dialog)
        edit.addSeparator()  # punch-in (app/arrangement.py): marker at the playhead, re-render
        add(edit, "Set punch-in marker at playhead", self.arrangement.mark_punch_at_playhead, "P")
        add(edit, "Punch in from marker", self.arrangement.punch_in, "Shift+P")
        view = bar.addMenu("&View")
        for dock in self.docks.values():
            view.addAction(dock.toggleViewAction())
        add(view, "Reset layout", lambda: self.restoreState(self._default_state))

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
            act.triggered.connect(lambda _on=False, p=path: self.bench.open_project(p))

    def _title(self) -> None:
        path = self.bench.project.path
        name = path.name if path else "untitled"
        self.setWindowTitle(f"{name}{' *' if self.bench.dirty else ''} — musae")

    def _resources(self) -> None:
        reason = self.bench.steering_unavailable()
        self.statusBar().showMessage(reason or "Ready: steer features with the mixer.", 0)

    # --- dialogs -------------------------------------------------------------------------------
    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open project", "", PROJECT_FILTER)
        if path:
            self.bench.open_project(path)

    def open_db_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open feature database", "", DB_FILTER)
        if path:
            self.bench.open_feature_db(path, offline=self.bench.session.model is None)

    def open_sae_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open SAE folder")
        if path:
            self.bench.open_sae(path)

    def save(self) -> None:
        if self.bench.project.path is None:
            self.save_as()
        else:
            self.bench.save_project()

    def save_as(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save project", "song.musae.json", PROJECT_FILTER
        )
        if path:
            self.bench.save_project(path)

    def export_dialog(self) -> None:
        take = self.bench.current_take
        if take is None:
            show_error(self, "There is no take to export yet.", "press Render first.")
            return
        default = f"take-{take.take_id}.wav"
        path, _ = QFileDialog.getSaveFileName(self, "Export take", default, "WAV (*.wav)")
        if path:
            self.bench.export(path, self.transport.ab)

    def settings_dialog(self) -> None:
        dialog = SettingsDialog(self.bench.settings, self)
        if dialog.exec():
            dialog.apply()
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
            self.bench.save_project(quiet=True)

    def _restore_layout(self) -> None:
        geometry = self.qsettings.value("geometry")
        state = self.qsettings.value("windowState")
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state)

    def _save_settings(self) -> None:
        try:
            self.bench.settings.save(self.settings_path)
        except OSError as exc:
            log.warning("cannot save settings: %s", exc)

    def closeEvent(self, event) -> None:
        self.qsettings.setValue("geometry", self.saveGeometry())
        self.qsettings.setValue("windowState", self.saveState())
        self._save_settings()
        self.bench.jobs.cancel_all()
        self.output.stop()
        self.output.close()
        self.bench.jobs.wait(5000)
        super().closeEvent(event)
