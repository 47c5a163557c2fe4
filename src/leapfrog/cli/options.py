"""The CLI's shared pieces: its consoles, option types, and how a command finds its stack."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from leapfrog.cli.consoles import console, err
from leapfrog.cli.quick import default_running_paths
from leapfrog.runtime import local
from leapfrog.shared.durations import parse_duration
from leapfrog.shared.loading import collector_paused

if TYPE_CHECKING:
    from leapfrog.spec import Stack

__all__ = [
    "DURATION",
    "FILE_HELP",
    "console",
    "err",
    "file_option",
    "load_chosen",
    "running_state_paths",
    "state_paths",
]


class _Duration(click.ParamType):  # type: ignore[type-arg]
    name = "duration"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        try:
            return parse_duration(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


DURATION = _Duration()
FILE_HELP = "Stack file (default: ./leapfrog.yaml, or $LEAPFROG_FILE)."


F = TypeVar("F", bound=Callable[..., Any])


def file_option(short: bool = True) -> Callable[[F], F]:
    names = ("-f", "--file") if short else ("--file",)
    return click.option(
        *names, "stack_file", type=click.Path(dir_okay=False, path_type=Path), help=FILE_HELP
    )


def _chosen(ctx: click.Context, stack_file: Path | None) -> Path:
    """The command's -f, else the group's -f or $LEAPFROG_FILE, else ./leapfrog.yaml."""
    return stack_file or ctx.obj.get("file") or Path("leapfrog.yaml")


def chosen_path(ctx: click.Context, stack_file: Path | None) -> Path:
    """The stack file a command would read (it may not exist)."""
    return _chosen(ctx, stack_file)


def load_chosen(ctx: click.Context, stack_file: Path | None) -> Stack:
    with collector_paused():
        from leapfrog.spec import load_stack  # pydantic and the models: where a stack is read

        return load_stack(_chosen(ctx, stack_file))


def state_paths(ctx: click.Context, stack_file: Path | None) -> local.StatePaths:
    """The state dir of the stack; found even when the stack file has since been broken,
    so that status, logs and down keep working while the user fixes it."""
    from leapfrog.spec import SpecError, load_stack

    chosen = _chosen(ctx, stack_file)
    try:
        return local.StatePaths(load_stack(chosen).state_dir)
    except SpecError as exc:
        state_dir = _state_dir_of_broken(chosen)
        if state_dir is None or not state_dir.is_dir():
            raise
        problems = len(exc.problems)
        err.print(
            f"[yellow]warning:[/] {chosen} has {problems} problem(s) (`leapfrog validate` "
            f"shows them); using the state in {state_dir}"
        )
        return local.StatePaths(state_dir)


def running_state_paths(ctx: click.Context, stack_file: Path | None) -> local.StatePaths:
    """The state dir of a running stack, for commands that only talk to its supervisor
    (which has the stack loaded and checks what it is asked): when the stack file does not
    name a `state_dir`, the default one next to it, found without loading the models and
    components that `state_paths` loads (0.2 s and more of a command's start). Anything
    else (a `state_dir` of its own, no state there yet) takes `state_paths`."""
    return default_running_paths(_chosen(ctx, stack_file)) or state_paths(ctx, stack_file)


def _state_dir_of_broken(stack_file: Path) -> Path | None:
    import yaml

    from leapfrog.spec import MAX_FILE_BYTES, read_stack_bytes

    try:
        raw = read_stack_bytes(stack_file)  # bounded: the file may be /dev/zero
        data = yaml.safe_load(raw.decode()) if len(raw) <= MAX_FILE_BYTES else None
    except (OSError, ValueError, yaml.YAMLError, RecursionError):
        data = None
    settings = data.get("local") if isinstance(data, dict) else None
    name = settings.get("state_dir") if isinstance(settings, dict) else None
    relative = name if isinstance(name, str) and name else ".leapfrog"
    try:
        return (stack_file.resolve().parent / relative).resolve()
    except (OSError, ValueError, RuntimeError):  # such as a NUL in the broken state_dir
        return None
