"""The inspector's "Concepts" box: the concept groups the feature belongs to, in words.

Each group is a sentence (how far its features together get against the whole layer), its
members as links that select that feature (the controller's selection path, like a click in
the browser) and "Add group to mixer" (every member a strip, one undo step).
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QScrollArea, QVBoxLayout, QWidget

from app.theme import ACCENT
from musae_core.workstation.concepts import NO_GROUPS, FeatureConcepts, group_sentence

TIP = (
    "The scorecard (`musae demo score --write-db`) found these features together cover the "
    "concept: F1 of a probe on just them, against a probe on the whole layer. Click a member to "
    "inspect it."
)


INVERTED = " (turn down)"
INVERTED_NOTE = (
    "<br><i>(turn down): the concept is where this feature is silent, so a negative knob pushes "
    "toward it</i>"
)


class ConceptBox(QWidget):
    """Lists a feature's concept groups; rebuilt for each selected feature (a few widgets)."""

    def __init__(self, bench, parent=None) -> None:
        super().__init__(parent)
        self.bench = bench
        self.concepts = FeatureConcepts()
        self.feature: int | None = None
        self.note = QLabel("", wordWrap=True)
        self.rows: list[QWidget] = []  # one per group: .sentence, .members, .add
        self._inner = QVBoxLayout()
        self._inner.setContentsMargins(0, 0, 0, 0)
        self._inner.addWidget(self.note)
        self._inner.addStretch()
        holder = QWidget()
        holder.setLayout(self._inner)
        self.scroll = QScrollArea(widgetResizable=True)
        self.scroll.setWidget(holder)
        self.scroll.setMinimumHeight(90)  # one group's sentence and two lines of members
        self.scroll.setMaximumHeight(170)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        title = QLabel("Concepts (features that together cover a concept)", wordWrap=True)
        title.setToolTip(TIP)
        layout.addWidget(title)
        layout.addWidget(self.scroll)
        bench.resourcesChanged.connect(self._resources)

    def show_concepts(self, feature: int, concepts: FeatureConcepts) -> None:
        self.feature, self.concepts = feature, concepts
        for row in self.rows:
            row.hide()
            row.deleteLater()
        self.rows = []
        if not concepts.stored:
            self.note.setText(NO_GROUPS)
        elif not concepts.groups:
            self.note.setText(
                f"#{feature} is in no concept group ({len(concepts.concepts)} concepts have "
                "one: pick a concept in the browser's Concept filter)."
            )
        self.note.setVisible(not concepts.groups)
        for name, group in concepts.groups:
            self._add_row(name, group)
        self._resources()

    def _add_row(self, name: str, group) -> None:
        row = QWidget()
        row.sentence = sentence = QLabel(group_sentence(name, group), wordWrap=True)
        sentence.setToolTip(TIP)
        row.members = members = QLabel(self._links(group), wordWrap=True)
        members.setTextFormat(Qt.RichText)
        members.setTextInteractionFlags(Qt.LinksAccessibleByMouse | Qt.LinksAccessibleByKeyboard)
        members.linkActivated.connect(self._select)
        row.add = add = QPushButton("Add group to mixer")
        add.clicked.connect(lambda _=False, n=name, g=group: self._add_group(n, g))
        head = QHBoxLayout()
        head.addWidget(sentence, 1)
        head.addWidget(add, 0, Qt.AlignTop)
        box = QVBoxLayout(row)
        box.setContentsMargins(0, 2, 0, 2)
        box.addLayout(head)
        box.addWidget(members)
        self._inner.insertWidget(self._inner.count() - 1, row)  # before the stretch
        self.rows.append(row)

    def _links(self, group) -> str:
        chips = []
        for j in group.features:
            label = html.escape(self.concepts.labels.get(j, ""))
            text = (
                f"#{j}"
                + (f" {label}" if label else "")
                + (INVERTED if group.direction(j) < 0 else "")
            )
            link = f'<a href="{j}" style="color:{ACCENT}">{text}</a>'
            chips.append(f"<b>{text}</b>" if j == self.feature else link)
        note = INVERTED_NOTE if any(d < 0 for d in group.directions) else ""
        return " · ".join(chips) + note

    def _select(self, link: str) -> None:
        self.bench.select_feature(int(link))

    def _add_group(self, name: str, group) -> None:
        self.bench.add_group(group.features, name, self.concepts.labels)

    def _resources(self) -> None:
        why = self.bench.steering_unavailable()
        for row in self.rows:
            row.add.setEnabled(why is None)
            row.add.setToolTip(why or "A strip for each member, in group order (one undo step)")
