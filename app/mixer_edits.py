"""The Workbench's undoable edits: mixer strips, knob gestures (live or auto-render on
release), strength envelopes, undo/redo and the master settings.

A mixin of ``Workbench`` (``controller.py``), which owns the session, signals and renders
these methods use; split out so each file stays readable.
"""

from __future__ import annotations

from musae_core.workstation import default_envelope
from musae_core.workstation.concepts import with_group


class MixerEdits:
    """Undoable edits of the mixer and master (methods of ``Workbench``)."""

    # --- mixer (undoable) ------------------------------------------------------------------
    def add_feature(self, feature: int, label: str = "") -> None:
        """Add a channel; without a label (a drop, a typed id) the DB's best label is used."""
        label = label or self._labels.get(int(feature), "")
        self.session.history.apply(self.mixer.add(int(feature), label), f"add #{feature}")

    def add_group(self, features: list[int], name: str, labels: dict | None = None) -> None:
        """Add every member of a concept group as a strip (one undo step)."""
        labels = {**self._labels, **(labels or {})}
        self.session.history.apply(with_group(self.mixer, features, labels), f"add {name}")

    def _remember_labels(self, rows: list) -> None:
        self._labels = {int(row.id): row.best_label or "" for row in rows}

    def remove_feature(self, feature: int) -> None:
        self.session.history.apply(self.mixer.remove(feature), f"remove #{feature}")

    def update_channel(self, feature: int, label: str = "edit", **changes) -> None:
        self.session.history.apply(self.mixer.update(feature, **changes), label)

    def preview_channel(self, feature: int, **changes) -> None:
        """A live value during a gesture (knob drag): shown, not yet an undo step."""
        self.session.history.preview(self.mixer.update(feature, **changes))

    def commit_gesture(self, label: str = "turn knob") -> None:
        self.session.history.commit(label)
        if self._change_live():
            return
        self._auto_render()

    def _change_live(self) -> bool:
        from app.punch_actions import change_live_take

        return change_live_take(self)

    def punch_in(self, seconds: float):
        """Re-render the current take from ``seconds`` with the current mixer (a new take)."""
        from app.punch_actions import start_punch

        return start_punch(self, seconds)

    def _auto_render(self) -> None:
        if self.auto_render and self.can_render() and self.steering_unavailable() is None:
            self.render()

    # --- strength envelopes (undoable; a finished edit re-renders like a knob release) -----
    def timeline_seconds(self) -> float:
        """The time span envelopes are drawn over: the current take, else the master duration."""
        take = self.current_take
        return float(take.duration) if take is not None and take.loaded else self.master.duration

    def set_envelope(self, feature: int, points, label: str = "envelope") -> None:
        """One complete envelope edit (add/delete a point, toggle): one undo step."""
        before = self.mixer
        self.session.history.apply(self.mixer.update(feature, envelope=tuple(points)), label)
        if self.mixer != before:
            self._auto_render()

    def toggle_envelope(self, feature: int, on: bool) -> None:
        """On: a flat full-strength envelope to draw on; off: constant strength again."""
        points = default_envelope(self.timeline_seconds()) if on else ()
        if bool(self.mixer.channel(feature).envelope) != on:
            self.set_envelope(feature, points, f"#{feature} envelope {'on' if on else 'off'}")

    def undo(self) -> bool:
        return self.session.history.undo()

    def redo(self) -> bool:
        return self.session.history.redo()

    def set_master(self, **changes) -> None:
        try:
            self.project.master = self.master.replace(**changes)
        except Exception as exc:
            self._report(exc)
            return
        self.dirty = True
        self.masterChanged.emit(self.master)
