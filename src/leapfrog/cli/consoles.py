"""The CLI's two consoles, stdout and stderr: rich, made at their first use. No click
here: `up` (cli/up.py) runs without it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["console", "err"]


class _LazyConsole:
    """A rich Console made at its first use: importing rich (15 ms and more) stays off a
    command's way until it prints, which for `scale` is after the supervisor has the
    request (and the new instances are on their way)."""

    def __init__(self, stderr: bool) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    def _made(self) -> Console:
        if self._console is None:
            from rich.console import Console

            # emoji=False: a `:name:` in a message or a program's detail stays as written
            # (and rich's table of emoji codes is not loaded for the first print).
            made = Console(stderr=self._stderr, highlight=False, soft_wrap=True, emoji=False)
            if not made.is_terminal:  # logs and pipes: no wrapping at rich's default 80 columns
                made.width = max(made.width, 160)
            self._console = made
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self._made(), name)

    # `with console:` (rich's Live does it) looks these up on the type, not through
    # __getattr__.
    def __enter__(self) -> Console:
        return self._made().__enter__()

    def __exit__(self, *exc: object) -> None:
        self._made().__exit__(*exc)


console = cast("Console", _LazyConsole(stderr=False))
err = cast("Console", _LazyConsole(stderr=True))
