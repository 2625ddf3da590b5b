"""Settings > MIDI: the input port (saved in the app settings) and the project's mappings."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
)

from musae_core.workstation.midi_input import input_ports


class MidiSettingsDialog(QDialog):
    """Lists input ports (or says plainly why there are none) and the mappings, each removable."""

    def __init__(self, midi, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("MIDI")
        self.midi = midi
        settings = midi.bench.settings
        names, reason = input_ports()
        self.port = QComboBox()
        self.port.addItem("All inputs", "")
        for name in names:
            self.port.addItem(name, name)
        if settings.midi_input and settings.midi_input not in names:
            self.port.addItem(f"{settings.midi_input} (not connected)", settings.midi_input)
        self.port.setCurrentIndex(max(0, self.port.findData(settings.midi_input)))
        self.note = QLabel(reason or "", objectName="note", wordWrap=True)
        self.note.setVisible(bool(reason))
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["Control", "Target", "Range", ""])
        self.table.verticalHeader().hide()
        self.table.setMinimumWidth(520)
        form = QFormLayout(self)
        form.addRow("MIDI input", self.port)
        form.addRow(self.note)
        form.addRow(QLabel("Mappings in this project (right-click a knob > MIDI learn to add):"))
        form.addRow(self.table)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        midi.mappingsChanged.connect(self.fill)
        self.fill()

    def fill(self) -> None:
        mappings = self.midi.bench.project.midi
        self.table.setRowCount(len(mappings))
        for row, m in enumerate(mappings):
            cells = (m.describe(), m.target, f"{m.minimum:g} .. {m.maximum:g}")
            for col, text in enumerate(cells):
                self.table.setItem(row, col, QTableWidgetItem(text))
            remove = QToolButton(text="Remove", toolTip=f"Forget the mapping of {m.target}")
            remove.clicked.connect(lambda _on=False, t=m.target: self.midi.forget(t))
            self.table.setCellWidget(row, 3, remove)
        self.table.resizeColumnsToContents()

    def apply(self) -> None:
        """Save the chosen port and reopen the inputs with it."""
        self.midi.bench.settings.midi_input = self.port.currentData() or ""
        self.midi.open_inputs()
