"""The one exception type users see: a message saying what is wrong and a hint saying what to do."""

from __future__ import annotations

__all__ = ["LeapfrogError"]


class LeapfrogError(Exception):
    """An error meant for the user. The CLI prints it without a traceback."""

    def __init__(self, message: str, hint: str | None = None, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.exit_code = exit_code

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message
