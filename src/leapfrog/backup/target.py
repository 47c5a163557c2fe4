"""The contract of `leapfrog backup list|run|restore`: what each target answers, the
stack's stores on this machine (`LocalBackups`: the engine) or the backup operator's
objects on a cluster (`KubeBackups`: Backup and Restore objects). The CLI chooses the
target once and renders what it answers; it never asks which one it has.

* `listing(store)`: a `Listing`, its tables and notes for people, its `body` for
  `--json` (`store`, `backups`: each with `id`, `started`, `ended`, `size`, `verified`
  and what the target adds);
* `run(store, request, progress)`: a backup, followed to its end (or, where the target
  allows `request.wait=False`, started): an `Outcome`;
* `plan_restore(store, backup, request)`: what a restore would replace, said before it
  runs (`RestorePlan.lines`), then `restore(plan, progress)`: an `Outcome`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

__all__ = ["BackupTarget", "Listing", "Outcome", "Report", "RestorePlan", "RunRequest", "Table"]

Report = Callable[[str, int | None], None]
"""Progress: what is happening, and the bytes done so far when the target counts them."""


@dataclass(frozen=True)
class Table:
    title: str
    columns: tuple[str, ...]
    rows: Sequence[Sequence[str]]
    wrap_last: bool = False
    """The last column (a reason, a message) may wrap; the others never do."""


@dataclass(frozen=True)
class Listing:
    body: dict[str, Any]
    """The `--json` object."""
    tables: list[Table]
    empty: str
    """Said instead of the first table when it has no rows."""
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RunRequest:
    """A backup's options; each target refuses (LeapfrogError) the ones it cannot do."""

    mode: str | None = None
    compress: bool = True
    backup_id: str | None = None
    deadline: float | None = None
    """Seconds (None: the target's default, 6 h locally, the schedule's on Kubernetes)."""
    stall_after: float | None = None
    choice: dict[str, tuple[str, ...]] = field(default_factory=dict)
    wait: bool = True
    timeout: float | None = None
    """How long to follow a run started elsewhere (None: until it ends)."""
    to: datetime | None = None
    """A restore's point in time."""
    summary_to: Path | None = None
    """A local run also writes the backup's `summary_of` here (a Job's termination
    message, which the Kubernetes operator reads into the Backup's status)."""


@dataclass(frozen=True)
class Outcome:
    action: str
    store: str
    backup: str
    state: str
    """succeeded, failed, or (not waited for) started."""
    reason: str
    body: dict[str, Any]
    """The `--json` object."""

    @property
    def failed(self) -> bool:
        return self.state not in ("succeeded", "started")


@dataclass(frozen=True)
class RestorePlan:
    store: str
    backup: str
    lines: list[str]
    """What the restore replaces, one line each, said before it runs."""
    chosen: Any = None
    """The target's own handle on what it restores."""


class BackupTarget(Protocol):
    where: str
    """How the target is named again in a hint (`` --target kubernetes`` or empty)."""

    def listing(self, store: str | None) -> Listing: ...

    def run(self, store: str | None, request: RunRequest, progress: Report | None) -> Outcome: ...

    def plan_restore(
        self, store: str | None, backup: str | None, request: RunRequest
    ) -> RestorePlan: ...

    def restore(
        self, plan: RestorePlan, request: RunRequest, progress: Report | None
    ) -> Outcome: ...
