"""Master section: prompt, duration, seed (lock / randomise), sampling, steered CFG branch."""

from __future__ import annotations

import random

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QSpinBox,
    QToolButton,
    QWidget,
)

from musae_core.workstation.midi_map import master_target


class MasterPanel(QWidget):
    def __init__(self, bench, parent=None) -> None:
        super().__init__(parent)
        self.bench = bench
        self.prompt = QLineEdit()
        self.duration = QDoubleSpinBox(minimum=0.1, maximum=30.0, singleStep=0.5, suffix=" s")
        self.seed = QSpinBox(minimum=0, maximum=2**31 - 1)
        self.lock = QCheckBox("lock", toolTip="Locked: every render uses this seed (A/B fair)")
        self.dice = QToolButton(text="New", toolTip="New random seed")
        self.temperature = QDoubleSpinBox(minimum=0.0, maximum=3.0, singleStep=0.05)
        self.top_k = QSpinBox(minimum=0, maximum=2048)
        self.top_p = QDoubleSpinBox(minimum=0.0, maximum=1.0, singleStep=0.05)
        self.top_p.setToolTip("Nucleus sampling: keep the likeliest tokens up to this mass; 0: off")
        self.cfg = QDoubleSpinBox(minimum=0.0, maximum=15.0, singleStep=0.5)
        self.branch = QComboBox()
        self.branch.addItems(["both", "conditional", "unconditional"])
        self.branch.setToolTip("Which classifier-free-guidance half the steering touches")
        seed_row = QHBoxLayout()
        for w in (self.seed, self.lock, self.dice):
            seed_row.addWidget(w)
        form = QFormLayout(self)
        form.addRow("Prompt", self.prompt)
        form.addRow("Duration", self.duration)
        form.addRow("Seed", seed_row)
        form.addRow("Temperature", self.temperature)
        form.addRow("Top-k", self.top_k)
        form.addRow("Top-p", self.top_p)
        form.addRow("CFG scale", self.cfg)
        form.addRow("Steer branch", self.branch)
        for name, w in (
            ("duration", self.duration),
            ("temperature", self.temperature),
            ("top_k", self.top_k),
            ("top_p", self.top_p),
            ("cfg_scale", self.cfg),
        ):
            w.setProperty("midi_target", master_target(name))  # right-click: MIDI learn
        self.sync(bench.master)
        self.prompt.editingFinished.connect(lambda: bench.set_master(prompt=self.prompt.text()))
        self.duration.editingFinished.connect(
            lambda: bench.set_master(duration=self.duration.value())
        )
        self.seed.editingFinished.connect(lambda: bench.set_master(seed=self.seed.value()))
        self.lock.toggled.connect(lambda on: bench.set_master(seed_locked=on))
        self.dice.clicked.connect(lambda: bench.set_master(seed=random.randrange(2**31)))
        self.temperature.editingFinished.connect(
            lambda: bench.set_master(temperature=self.temperature.value())
        )
        self.top_k.editingFinished.connect(lambda: bench.set_master(top_k=self.top_k.value()))
        self.top_p.editingFinished.connect(lambda: bench.set_master(top_p=self.top_p.value()))
        self.cfg.editingFinished.connect(lambda: bench.set_master(cfg_scale=self.cfg.value()))
        self.branch.activated.connect(
            lambda i: bench.set_master(steer_branch=self.branch.itemText(i))
        )
        for field in (
            self.prompt, self.duration, self.seed, self.temperature, self.top_k, self.top_p,
            self.cfg,
        ):  # fmt: skip
            # Enter commits and hands the keyboard back to the window: the app's single-key
            # shortcuts (Space, L, B) went to the field and did nothing until a click elsewhere
            field.editingFinished.connect(lambda f=field: f.hasFocus() and f.clearFocus())
        bench.masterChanged.connect(self.sync)
        bench.resourcesChanged.connect(self._resources)
        self._resources()

    def _resources(self) -> None:
        self.setEnabled(self.bench.can_render())

    def sync(self, master) -> None:
        widgets = (
            self.prompt,
            self.duration,
            self.seed,
            self.lock,
            self.temperature,
            self.top_k,
            self.top_p,
            self.cfg,
            self.branch,
        )
        for w in widgets:
            w.blockSignals(True)
        self.prompt.setText(master.prompt)
        self.duration.setValue(master.duration)
        self.seed.setValue(master.seed)
        self.lock.setChecked(master.seed_locked)
        self.temperature.setValue(master.sampling.temperature)
        self.top_k.setValue(master.sampling.top_k)
        self.top_p.setValue(master.sampling.top_p)
        self.cfg.setValue(master.sampling.cfg_scale)
        self.branch.setCurrentText(master.steer_branch)
        for w in widgets:
            w.blockSignals(False)
