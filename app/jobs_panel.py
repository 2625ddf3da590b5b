"""Jobs panel: every background job with progress, ETA and a cancel button."""

from __future__ import annotations

from PySide6.QtWidgets import QProgressBar, QPushButton, QTreeWidget, QTreeWidgetItem


class JobsPanel(QTreeWidget):
    def __init__(self, manager, parent=None) -> None:
        super().__init__(parent)
        self.setHeaderLabels(["Job", "Progress", "ETA", "State", ""])
        self.setRootIsDecorated(False)
        self.setColumnWidth(0, 220)
        self.items: dict[int, tuple[QTreeWidgetItem, QProgressBar, QPushButton]] = {}
        manager.jobStarted.connect(self._started)
        manager.jobProgress.connect(self._update)
        manager.jobEnded.connect(self._update)

    def _started(self, job) -> None:
        item = QTreeWidgetItem([job.title, "", "", job.state, ""])
        self.insertTopLevelItem(0, item)
        bar = QProgressBar(maximum=0, textVisible=True)
        bar.setMaximumHeight(16)
        button = QPushButton("Cancel")
        button.clicked.connect(job.cancel)
        self.setItemWidget(item, 1, bar)
        self.setItemWidget(item, 4, button)
        self.items[job.id] = (item, bar, button)
        while self.topLevelItemCount() > 30:
            self.takeTopLevelItem(self.topLevelItemCount() - 1)

    def _update(self, job) -> None:
        entry = self.items.get(job.id)
        if entry is None:
            return
        item, bar, button = entry
        if job.total_steps:
            bar.setMaximum(job.total_steps)
            bar.setValue(job.done_steps)
        eta = job.eta_seconds()
        item.setText(2, "" if eta is None or job.state != "running" else f"{eta:.1f} s")
        item.setText(3, job.state)
        if job.state not in ("queued", "running"):
            bar.setMaximum(max(bar.maximum(), 1))
            bar.setValue(bar.maximum() if job.state == "done" else bar.value())
            button.setEnabled(False)
            self.items.pop(job.id, None)
