"""Errors that carry a fix for the user, so every front end (CLI, GUI) can show both."""

from __future__ import annotations


class MusaeError(Exception):
    """A problem the user can act on: what went wrong and how to fix it.

    The CLI prints it as one line and exits with code 2; the GUI shows it in a dialog.
    """

    exit_code = 2

    def __init__(self, problem: str, fix: str = "") -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(self.one_line())

    def one_line(self) -> str:
        return f"{self.problem} Fix: {self.fix}" if self.fix else self.problem


class Cancelled(Exception):
    """Raised inside a long job when its cancel token was set; callers treat it as a clean stop."""
