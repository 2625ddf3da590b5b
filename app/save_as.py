"""Save As: a file dialog with one choice added, whether the SAE and feature database are copied
into the project folder (self-contained, larger) or referenced where they are."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QCheckBox, QFileDialog, QGridLayout, QWidget

PROJECT_FILTER = "musae project (*.musae.json)"
COPY_TEXT = "Copy the SAE and feature database into the project folder"
COPY_TIP = (
    "On: the project folder holds everything (takes, SAE, feature database) and can be zipped "
    "and shared. Off: they are referenced where they are (relative paths when inside the "
    "folder, absolute otherwise). Takes are always saved inside the project folder."
)


class SaveAsDialog(QFileDialog):
    """Qt's own (non-native) save dialog, so the copy option can sit in it."""

    def __init__(self, parent: QWidget | None, start: str) -> None:
        super().__init__(parent, "Save project as", start, PROJECT_FILTER)
        self.setObjectName("saveAsDialog")
        self.setOption(QFileDialog.DontUseNativeDialog)
        self.setAcceptMode(QFileDialog.AcceptSave)
        self.setDefaultSuffix("musae.json")
        self.copy = QCheckBox(COPY_TEXT, toolTip=COPY_TIP)
        layout = self.layout()
        if isinstance(layout, QGridLayout):
            layout.addWidget(self.copy, layout.rowCount(), 0, 1, layout.columnCount())

    def chosen(self) -> tuple[Path, bool] | None:
        """Run the dialog: (project path, copy resources), or None when cancelled."""
        if not self.exec() or not self.selectedFiles():
            return None
        return Path(self.selectedFiles()[0]), self.copy.isChecked()
