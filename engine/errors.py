"""Errors a user can cause or fix, each carrying a message that says what to do.

Anything raised as a ``DistillabError`` is shown to the user as one clear message (CLI
and GUI alike), never as a traceback. Anything else is a bug and is shown with its
traceback in the log.
"""

from __future__ import annotations


class DistillabError(Exception):
    """A problem the user can fix; ``str(err)`` names what and where, ``hint`` says how."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  Fix: {self.hint}" if self.hint else self.message


class DataError(DistillabError):
    """A data file or field mapping that cannot be read (names file and line)."""


class Cancelled(Exception):
    """The user cancelled the run; everything finished so far is kept."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a run or study, with the command that goes on from where it stopped."""

    def __init__(self, resume_command: str) -> None:
        super().__init__(resume_command)
        self.resume_command = resume_command


class StopRun(DistillabError):
    """A run stopped cleanly before its end (e.g. the teacher budget ran out); resumable."""
