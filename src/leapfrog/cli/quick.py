"""`leapfrog scale` and `leapfrog up`, run before click is loaded.

The time from `leapfrog scale web=+4` to new instances serving starts with the command's
own start, and click alone (it loads `inspect`, `ast`, `tokenize` and more at import) is
more than the interpreter's own start. So the console script first looks here: a
`scale` whose arguments are plain (counts, `-f/--file`, `--timeout`, `--json`) of a
stack whose state is in the default place sends its request at once, and only then
loads the CLI to wait for the new instances and print (`cli/scale.py`, `finish`).
A plain `up` (`-f/--file`, `-d/--detach`, `--timeout`) runs `cli/up.py` without click:
everything `up -d` loads comes before its supervisor forks, while the second core idles
(bench/README.md, `up_many.py`).
Anything else (`--help`, an option this parser does not know, a word click would reject,
a stack with a `state_dir` of its own, no state yet, a directory for a file) returns None
before doing anything, and the normal CLI handles it, with its own words for every mistake.

Loads no click, rich, asyncio, pydantic or stack model (tests/unit/cli/test_quick.py).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from leapfrog.shared.errors import LeapfrogError

if TYPE_CHECKING:
    from leapfrog.runtime.local.paths import StatePaths

__all__ = ["DEFAULT_TIMEOUT", "default_running_paths", "pairs", "quick_command"]

_DEFAULT_STATE_DIR = ".leapfrog"
_BOUND = (1 << 20) + 1
"""Bytes of a stack file read to look for `state_dir` (the loader's own bound)."""
DEFAULT_TIMEOUT = 300.0
"""`scale --timeout`'s default (cli/scale.py shows it in --help)."""


def pairs(words: tuple[str, ...] | list[str]) -> dict[str, str]:
    """`scale`'s NAME=N words: the count text by service name."""
    wanted: dict[str, str] = {}
    for word in words:
        name, sep, count = word.partition("=")
        if not sep or not name or not count:
            raise LeapfrogError(
                f"{word!r} is not NAME=N", hint="e.g. `leapfrog scale web=4 worker=+2`"
            )
        wanted[name] = count
    return wanted


def default_running_paths(chosen: Path) -> StatePaths | None:
    """The state dir of a running stack when its stack file names no `state_dir`: the
    default one next to it, found without loading the models and components (0.2 s and
    more of a command's start). None when that cannot be told so cheaply (no state there
    yet, a `state_dir` of its own, an unreadable file): the stack file must be loaded."""
    from leapfrog.runtime.local.paths import StatePaths

    try:
        with chosen.open("rb") as file:
            named = b"state_dir" in file.read(_BOUND)
        paths = StatePaths((chosen.parent / _DEFAULT_STATE_DIR).resolve())
    except (OSError, ValueError, RuntimeError):
        return None
    if not named and paths.state_file.is_file():
        return paths
    return None


def quick_command(args: list[str]) -> Callable[[], None] | None:
    """The command to run for `args` without click, or None to leave them to the CLI.
    Nothing is done (no file read, nothing sent) before it is called."""
    return _quick_scale(args) or _quick_up(args)


def _quick_up(args: list[str]) -> Callable[[], None] | None:
    parsed = _parse_up(args)
    if parsed is None:
        return None
    stack_file, detach, timeout = parsed
    if stack_file.is_dir():
        return None  # click's words for it

    def run() -> None:
        from leapfrog.cli.up import run_up

        try:
            run_up(stack_file, detach, timeout)
        except KeyboardInterrupt:
            import click  # Ctrl-C ends as through click: a new line, "aborted", 130

            click.echo(file=sys.stderr)
            raise click.exceptions.Abort() from None

    return run


def _quick_scale(args: list[str]) -> Callable[[], None] | None:
    parsed = _parse_scale(args)
    if parsed is None:
        return None
    stack_file, timeout, as_json, counts = parsed
    try:
        wanted = pairs(counts)
    except LeapfrogError:
        return None  # the CLI says so, with its usage
    paths = default_running_paths(stack_file)
    if paths is None:
        return None

    def run() -> None:
        from leapfrog.runtime.local.scaling_client import request_scale

        deadline = time.monotonic() + timeout
        scaled = request_scale(paths, wanted, timeout=timeout + 60)
        from leapfrog.cli.scale import finish  # click and rich: after the request

        finish(paths, scaled, deadline, as_json)

    return run


_FILE = ("-f", "--file")


class _Unsure(Exception):
    """Arguments this parser leaves to click (which has the words for every mistake)."""


def _parse_scale(args: list[str]) -> tuple[Path, float, bool, list[str]] | None:
    """`[-f F] scale [-f F] [--timeout D] [--json] NAME=N...` as click reads it, or None."""
    try:
        return _scale_args(list(args))
    except _Unsure:
        return None


def _scale_args(rest: list[str]) -> tuple[Path, float, bool, list[str]]:
    stack_file = _take_file(rest) or os.environ.get("LEAPFROG_FILE") or None
    if not rest or rest.pop(0) != "scale":
        raise _Unsure
    timeout, as_json, counts = DEFAULT_TIMEOUT, False, []
    while rest:
        word = rest[0]
        if word in _FILE or word.startswith("--file="):
            stack_file = _take_file(rest)
        elif word == "--json":
            as_json = True
            rest.pop(0)
        elif word == "--timeout" or word.startswith("--timeout="):
            timeout = _seconds(_value(rest))
        elif word.startswith("-"):
            raise _Unsure  # --help, `--`, a short option cluster: the CLI's business
        else:
            counts.append(rest.pop(0))
    if not counts:
        raise _Unsure
    return Path(stack_file or "leapfrog.yaml"), timeout, as_json, counts


def _parse_up(args: list[str]) -> tuple[Path, bool, float | None] | None:
    """`[-f F] up [-f F] [-d] [--timeout D]` as click reads it, or None."""
    try:
        return _up_args(list(args))
    except _Unsure:
        return None


def _up_args(rest: list[str]) -> tuple[Path, bool, float | None]:
    stack_file = _take_file(rest) or os.environ.get("LEAPFROG_FILE") or None
    if not rest or rest.pop(0) != "up":
        raise _Unsure
    detach, timeout = False, None
    while rest:
        word = rest[0]
        if word in _FILE or word.startswith("--file="):
            stack_file = _take_file(rest)
        elif word in ("-d", "--detach"):
            detach = True
            rest.pop(0)
        elif word == "--timeout" or word.startswith("--timeout="):
            timeout = _seconds(_value(rest))
        else:
            raise _Unsure  # --help, an argument `up` has not: the CLI's business
    return Path(stack_file or "leapfrog.yaml"), detach, timeout


def _take_file(rest: list[str]) -> str | None:
    """A leading -f/--file option's value, consumed; None when there is none."""
    if rest and (rest[0] in _FILE or rest[0].startswith("--file=")):
        return _value(rest)
    return None


def _value(rest: list[str]) -> str:
    """The value of the option `rest` starts with (`--opt=V` or `--opt V`), consumed."""
    word = rest.pop(0)
    if word.startswith("--") and "=" in word:
        value = word.partition("=")[2]
    elif rest and not rest[0].startswith("-"):
        value = rest.pop(0)
    else:
        raise _Unsure
    if not value:
        raise _Unsure
    return value


def _seconds(text: str) -> float:
    from leapfrog.shared.durations import parse_duration

    try:
        return parse_duration(text)
    except ValueError:
        raise _Unsure from None
