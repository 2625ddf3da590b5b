"""Settings dialog: device, CPU threads, model cache, audio output (or plainly none), LLM
endpoint (keys stay in env/keyring), autosave and streaming playback."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
)

from musae_core.workstation.settings import KEY_ENV

NO_OUTPUT = "No output device (playback is silent; export still works)"


def output_devices() -> list[str]:
    try:
        import sounddevice as sd

        return [d["name"] for d in sd.query_devices() if d["max_output_channels"] > 0]
    except Exception:
        return []


class SettingsDialog(QDialog):
    def __init__(self, settings, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("musae settings")
        self.settings = settings
        self.device = QComboBox(editable=True)
        self.device.addItems(["auto", "cpu", "cuda", "mps"])
        self.device.setCurrentText(settings.device)
        self.cache = QLineEdit(settings.model_cache, placeholderText="default Hugging Face cache")
        self.threads = QSpinBox(minimum=0, maximum=256, value=settings.threads)
        self.threads.setSpecialValueText("automatic")
        self.threads.setToolTip(
            "Threads the model uses on the CPU. Automatic picks them for the model size and the "
            "cores other programs leave free ($MUSAE_THREADS overrides this)."
        )
        self.audio = QComboBox()
        devices = output_devices()
        self.audio.addItem("System default" if devices else NO_OUTPUT, "")
        for name in devices:
            self.audio.addItem(name, name)
        self.audio.setCurrentIndex(max(0, self.audio.findData(settings.audio_device)))
        self.llm = QLineEdit(settings.llm_endpoint, placeholderText="http://localhost:8000/v1")
        self.autosave = QSpinBox(
            minimum=0, maximum=3600, suffix=" s", value=settings.autosave_seconds
        )
        self.stream = QCheckBox("Start playback while a render is still running")
        self.stream.setChecked(settings.stream_playback)
        self.auto_play = QCheckBox("Play every render as soon as it can be heard")
        self.auto_play.setChecked(settings.auto_play)
        form = QFormLayout(self)
        form.addRow("Compute device", self.device)
        form.addRow("CPU threads", self.threads)
        form.addRow("Model cache folder", self.cache)
        form.addRow("Audio output", self.audio)
        form.addRow("LLM endpoint", self.llm)
        form.addRow(
            QLabel(f"The LLM API key is read from ${KEY_ENV} or the OS keyring; never saved.")
        )
        form.addRow("Autosave every (0 = off)", self.autosave)
        form.addRow("Streaming playback", self.stream)
        form.addRow("Auto-play", self.auto_play)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def apply(self) -> None:
        s = self.settings
        s.device = self.device.currentText()
        s.threads = self.threads.value()
        s.model_cache = self.cache.text().strip()
        s.audio_device = self.audio.currentData() or ""
        s.llm_endpoint = self.llm.text().strip()
        s.autosave_seconds = self.autosave.value()
        s.stream_playback = self.stream.isChecked()
        s.auto_play = self.auto_play.isChecked()
