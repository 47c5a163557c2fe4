"""Problems found in a stack file, and how they are shown to the person who wrote it.

A stack file is written by hand, so every problem carries the line to look at and the
fix to make; the whole list is reported at once so one edit-run cycle fixes them all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePath
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # rich loads only to show problems: `up` of a valid stack forks its supervisor first.
    from rich.console import Console

__all__ = ["MAX_SHOWN", "Problem", "SpecError", "render", "source_lines"]

MAX_SHOWN = 10
"""More problems than this are summarised: the first ones usually explain the rest."""

_LINE_BREAK = re.compile(r"\r\n|[\r\n\x85\u2028\u2029]")


def source_lines(text: str) -> list[str]:
    """Split like YAML counts lines, so a mark's line number indexes the right text."""
    return _LINE_BREAK.split(text)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the stack file, located as precisely as the file allows."""

    file: str
    line: int | None
    column: int | None
    field: str
    message: str
    hint: str | None = None

    def location(self) -> str:
        if self.line is None:
            return self.file
        if self.column is None:
            return f"{self.file}:{self.line}"
        return f"{self.file}:{self.line}:{self.column}"

    def __str__(self) -> str:
        text = f"{self.location()}: {self.field}: {self.message}"
        return f"{text} (hint: {self.hint})" if self.hint else text


class SpecError(Exception):
    """The stack file cannot be used; `problems` says why, in file order."""

    def __init__(self, problems: list[Problem], source: str | None = None) -> None:
        self.problems = sorted(problems, key=lambda p: (p.line or 0, p.column or 0))
        self.source = source
        super().__init__(self.__str__())

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)

    def __reduce__(self) -> tuple[type[SpecError], tuple[list[Problem], str | None]]:
        return (SpecError, (self.problems, self.source))


def render(error: SpecError, console: Console) -> None:
    """Print the problems as one screen: where, what, the line itself with a caret, the fix.

    Colour only emphasises; every part is also marked by text (`hint:`, `^`) so the output
    reads the same when piped or on a terminal without colour.
    """
    from rich.markup import escape

    problems = error.problems
    name = PurePath(problems[0].file).name if problems else "leapfrog.yaml"
    count = len(problems)
    plural = "problem" if count == 1 else "problems"
    console.print(f"[bold red]{escape(name)} has {count} {plural}[/]", highlight=False)
    lines = source_lines(error.source) if error.source is not None else []
    shown = problems[:MAX_SHOWN]
    width = max((len(str(p.line)) for p in shown if p.line is not None), default=1)
    for problem in shown:
        _render_one(problem, lines, width, console)
    if count > MAX_SHOWN:
        console.print(f"... and {count - MAX_SHOWN} more", highlight=False)


def _render_one(problem: Problem, lines: list[str], width: int, console: Console) -> None:
    from rich.markup import escape

    console.print(
        f"[bold]{escape(problem.location())}[/] [cyan]{escape(problem.field)}[/]: "
        f"{escape(problem.message)}",
        highlight=False,
    )
    hint = f"[green]hint: {escape(problem.hint)}[/]" if problem.hint else ""
    line = problem.line
    if line is None or not 1 <= line <= len(lines):
        if hint:
            console.print(f"  {hint}", highlight=False)
        return
    gutter = " " * (width + 3)
    text, caret = _snippet(lines[line - 1], problem.column, console.width - len(gutter) - 3)
    console.print(
        f"  [dim]{line:>{width}} |[/] {escape(text)}",
        highlight=False,
        no_wrap=True,
        overflow="ellipsis",
    )
    parts = [f"{' ' * caret}[bold red]^[/]"] if caret is not None else []
    parts += [hint] if hint else []
    if parts:
        console.print(f"{gutter}[dim]|[/] {' '.join(parts)}", highlight=False)


def _snippet(raw: str, column: int | None, room: int) -> tuple[str, int | None]:
    """The source line fitted to the screen, and the caret's cell offset in it."""
    from rich.cells import cell_len

    text = raw.expandtabs(4)
    caret = None
    if column is not None:
        caret = cell_len(raw[: column - 1].expandtabs(4))
    room = max(room, 20)
    if cell_len(text) <= room:
        return text, caret
    if caret is None:
        return text[: room - 1] + "…", None
    start = max(0, min(caret - room // 2, len(text) - room))
    window = text[start : start + room]
    if start > 0:
        window = "…" + window[1:]
    if start + room < len(text):
        window = window[:-1] + "…"
    return window, caret - start
