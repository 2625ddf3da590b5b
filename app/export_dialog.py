"""Export (Ctrl+E): a save dialog that opens in the project's exports folder and names the
side it exports (steered, unsteered or both) in its title and in the file name."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QStandardPaths
from PySide6.QtWidgets import QFileDialog

SIDE_FILTERS = {
    "steered": "Steered side, B (*.wav)",
    "unsteered": "Unsteered side, A (*.wav)",
    "both": "Both sides, two files (*.wav)",
}


def export_folder(project_path: Path | None) -> Path:
    """``exports/`` beside a saved project, else the user's music folder (never the cwd)."""
    if project_path is not None:
        return project_path.parent / "exports"
    music = QStandardPaths.writableLocation(QStandardPaths.MusicLocation)
    return Path(music) if music else Path.home()


def default_name(take_id: int, side: str) -> str:
    return f"take-{take_id}-{side}.wav"


def side_paths(path: str | Path, side: str) -> list[tuple[Path, str]]:
    """Files to write: one for a side; for both, ``NAME-steered.wav`` and ``NAME-unsteered.wav``."""
    path = Path(path)
    if path.suffix.lower() != ".wav":
        path = path.with_name(path.name + ".wav")
    if side != "both":
        return [(path, side)]
    stem = path.stem.removesuffix("-both").removesuffix("-steered").removesuffix("-unsteered")
    return [(path.with_name(f"{stem}-{s}.wav"), s) for s in ("steered", "unsteered")]


class ExportDialog(QFileDialog):
    """Pick the side with the file-type filter; the file name follows the side picked."""

    def __init__(self, parent, take_id: int, side: str, project_path: Path | None) -> None:
        folder = export_folder(project_path)
        folder.mkdir(parents=True, exist_ok=True)
        super().__init__(parent, "", str(folder))
        self.setObjectName("export_dialog")
        self.take_id = take_id
        self.setAcceptMode(QFileDialog.AcceptSave)
        self.setNameFilters(list(SIDE_FILTERS.values()))
        self.filterSelected.connect(self._side_picked)
        self.set_side(side)

    def set_side(self, side: str) -> None:
        self.selectNameFilter(SIDE_FILTERS[side])
        self._side_picked(SIDE_FILTERS[side])

    def side(self) -> str:
        picked = self.selectedNameFilter()
        return next((s for s, f in SIDE_FILTERS.items() if f == picked), "steered")

    def _side_picked(self, _filter: str) -> None:
        side = self.side()
        self.setWindowTitle(f"Export take {self.take_id}: {side} side")
        self.selectFile(default_name(self.take_id, side))
