"""A command's start made cheaper: what the interpreter does while a command loads its
modules and reads its stack file that a command never needs.

`leapfrog up -d` pays its whole start before the supervisor runs, on one core while the
other waits (bench/README.md, `up_many.py`); these two take 25-40 ms out of ~190 ms.
"""

from __future__ import annotations

import contextlib
import gc
import sys
import types
from collections.abc import Iterator

__all__ = ["collector_paused", "skip_pydantic_plugin_scan"]

_PLUGIN_LOADER = "pydantic.plugin._loader"


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off for the block, then as it was. Loading the stack
    file's models allocates tens of thousands of objects that live as long as the command
    (classes, schemas, validators) and no garbage: each collection the allocations trigger
    walks them again, 15-25 ms of the load. Only around loading, so that a long-running
    command (a foreground `up`, `logs -f`) still collects its cycles."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def skip_pydantic_plugin_scan() -> None:
    """Pydantic's plugin loader, replaced by one that finds none: for a process where
    `PYDANTIC_DISABLE_PLUGINS=__all__`, in which the real loader also returns none but
    first imports `importlib.metadata` (and through it `email`, `zipfile`, `csv`) at the
    first model: 10-15 ms of every command that reads a stack file. Does nothing when
    pydantic's loader is already loaded (its plugins may be in use)."""
    if _PLUGIN_LOADER in sys.modules:
        return
    loader = types.ModuleType(_PLUGIN_LOADER, "pydantic's plugin loader, with plugins off")
    setattr(loader, "get_plugins", _no_plugins)  # noqa: B010 (a module made here)
    sys.modules[_PLUGIN_LOADER] = loader


def _no_plugins() -> tuple[()]:
    return ()
