"""`leapfrog logs`: the output of instances, each line prefixed with its instance."""

from __future__ import annotations

import os
import time
from pathlib import Path

from rich.console import Console
from rich.text import Text

from leapfrog.runtime.local import StatePaths
from leapfrog.shared.errors import LeapfrogError
from leapfrog.shared.files import tail_lines
from leapfrog.telemetry import FileFollower

__all__ = ["follow_logs", "last_lines", "log_files", "show_logs"]

_POLL = 0.1
_COLOURS = ("cyan", "magenta", "green", "yellow", "blue", "bright_cyan", "bright_magenta")


def log_files(paths: StatePaths, names: tuple[str, ...]) -> dict[str, Path]:
    """Log files by instance name for the given units/instances (all when none given)."""
    available = {p.stem: p for p in sorted(paths.logs.glob("*.log"))} if paths.logs.is_dir() else {}
    if not names:
        return {k: v for k, v in available.items() if k != "supervisor"} or available
    chosen: dict[str, Path] = {}
    for name in names:
        matches = {k: v for k, v in available.items() if k == name or k.rsplit("-", 1)[0] == name}
        if not matches:
            units = sorted({k.rsplit("-", 1)[0] for k in available if k != "supervisor"})
            raise LeapfrogError(
                f"no logs for {name!r}",
                hint=f"known: {', '.join([*units, 'supervisor']) or 'none yet (is the stack up?)'}",
            )
        chosen.update(matches)
    return chosen


def _prefix(name: str, index: int, width: int) -> Text:
    return Text(f"{name:<{width}} | ", style=_COLOURS[index % len(_COLOURS)])


def last_lines(path: Path, count: int) -> list[str]:
    """The last `count` lines of an instance's output: from the file before it (`.log.1`)
    too, when the log was rotated a moment ago. That file's unfinished last line, if any,
    is the first line of the newer one (see runtime.local.logwriter), so it is left out."""
    found = tail_lines(path, count)
    older = path.with_name(f"{path.name}.1")
    if len(found) >= count or not older.exists():
        return found
    before = tail_lines(older, count - len(found) + 1)
    try:
        with open(older, "rb") as handle:
            handle.seek(-1, os.SEEK_END)
            unfinished = handle.read(1) != b"\n"
    except OSError:
        return found
    if unfinished:
        before = before[:-1]
    return [*before[-(count - len(found)) :], *found]


def show_logs(console: Console, paths: StatePaths, names: tuple[str, ...], lines: int) -> None:
    files = log_files(paths, names)
    width = max((len(n) for n in files), default=0)
    single = len(files) == 1
    for index, (name, path) in enumerate(files.items()):
        for line in last_lines(path, lines):
            console.print(Text(line) if single else _prefix(name, index, width) + Text(line))


def follow_logs(console: Console, paths: StatePaths, names: tuple[str, ...], lines: int) -> None:
    """Print the tail, then new lines as they are written, until Ctrl-C. Follows each file
    across rotation (the files rotated in between included), so no line is missed."""
    show_logs(console, paths, names, lines)
    files = log_files(paths, names)
    width = max((len(n) for n in files), default=0)
    single = len(files) == 1
    followers = {name: FileFollower(path, from_end=True) for name, path in files.items()}
    order = list(files)
    while True:
        for name, follower in followers.items():
            try:
                new = follower.read_lines()
            except OSError:
                continue  # not there (yet): looked at again next turn
            for line in new:
                text = Text(line)
                console.print(text if single else _prefix(name, order.index(name), width) + text)
        time.sleep(_POLL)
