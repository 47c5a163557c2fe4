"""Installing components with visible progress: downloads take minutes the first time."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from leapfrog.components.base import Component, Installation
from leapfrog.runtime import local
from leapfrog.shared.cache import cache_dir

if TYPE_CHECKING:
    # Only a type here: `up` of a stack whose components are installed (or that has none)
    # loads rich after it forked the supervisor, not before (the console is lazy).
    from rich.console import Console

__all__ = ["installer"]


def installer(console: Console) -> local.Installer:
    """Install each component under a spinner that shows its latest progress line; a
    component already installed passes in a blink and prints nothing."""

    def install(kind: str, comp: Component[Any], options: Any) -> Installation:
        began = time.monotonic()
        with console.status(f"{kind}: checking the installation", spinner="dots") as status:

            def progress(line: str) -> None:
                status.update(f"{kind}: {line}")

            found = comp.install(options, cache_dir(), progress)
        if time.monotonic() - began > 1:
            console.print(
                f"installed {kind} {found.version} in {time.monotonic() - began:.0f}s", style="dim"
            )
        return found

    return install
