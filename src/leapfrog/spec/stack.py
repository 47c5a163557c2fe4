"""A validated stack file together with where it lives and where each value was written."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from leapfrog.spec.models import StackSpec

__all__ = ["Stack"]


@dataclass(frozen=True)
class Stack:
    """What later layers work from: the spec plus the paths it is relative to.

    `lines` maps dotted field paths (`services.web.port`) to the line they were written
    on, so errors found long after loading can still point into the file.
    """

    spec: StackSpec
    path: Path
    base_dir: Path
    name: str
    state_dir: Path
    lines: dict[str, int] = field(default_factory=dict, compare=False, hash=False)

    def line_of(self, field: str) -> int | None:
        """The line of `field`, or of its nearest written parent when it took a default."""
        parts = field.split(".")
        while parts:
            line = self.lines.get(".".join(parts))
            if line is not None:
                return line
            parts.pop()
        return None
