"""Undo/redo over immutable states, with gestures so a knob drag is one undo step."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

S = TypeVar("S")


@dataclass
class History(Generic[S]):
    """Keeps past and future states; ``listeners`` hear every change of the current state.

    A gesture (``begin``/``preview``/``commit``) lets the UI show live values while dragging
    and records only the state before the drag as one undo step.
    """

    state: S
    limit: int = 200
    _undo: list[tuple[S, str]] = field(default_factory=list)
    _redo: list[tuple[S, str]] = field(default_factory=list)
    _gesture_start: S | None = None
    listeners: list[Callable[[S], None]] = field(default_factory=list)

    def _notify(self) -> None:
        for listener in list(self.listeners):
            listener(self.state)

    def apply(self, new: S, label: str = "edit") -> None:
        """One complete edit: one undo step (nothing recorded if the state did not change)."""
        if self._gesture_start is not None:
            self.commit(label)
        if new == self.state:
            return
        self._push(self.state, label)
        self.state = new
        self._notify()

    def begin(self) -> None:
        if self._gesture_start is None:
            self._gesture_start = self.state

    def preview(self, new: S) -> None:
        """Change the current state during a gesture without recording a step."""
        self.begin()
        self.state = new
        self._notify()

    def commit(self, label: str = "edit") -> None:
        start, self._gesture_start = self._gesture_start, None
        if start is not None and start != self.state:
            self._push(start, label)

    def _push(self, old: S, label: str) -> None:
        self._undo.append((old, label))
        del self._undo[: -self.limit]
        self._redo.clear()

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    def undo_label(self) -> str:
        return self._undo[-1][1] if self._undo else ""

    def redo_label(self) -> str:
        return self._redo[-1][1] if self._redo else ""

    def undo(self) -> bool:
        self.commit()
        if not self._undo:
            return False
        old, label = self._undo.pop()
        self._redo.append((self.state, label))
        self.state = old
        self._notify()
        return True

    def redo(self) -> bool:
        self.commit()
        if not self._redo:
            return False
        new, label = self._redo.pop()
        self._undo.append((self.state, label))
        self.state = new
        self._notify()
        return True

    def reset(self, state: S) -> None:
        """Replace the state and forget history (e.g. a project was opened)."""
        self.state, self._gesture_start = state, None
        self._undo.clear()
        self._redo.clear()
        self._notify()
