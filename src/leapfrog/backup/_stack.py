"""A local stack's stores as the engine sees them, shared by `leapfrog backup` and the
scheduler (`leapfrog.backup.scheduler`): which components have a driver, where their
backups go, what a prune keeps, and the `Engine` of one of them.

Where each instance lives (its address, data directory, user) is the local runtime's
knowledge; the caller (the CLI layer) hands it in as `LocalStack.stores`, so this
package stays beside the runtime rather than above it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leapfrog.backup.driver import Store
from leapfrog.backup.drivers import driver_for
from leapfrog.backup.engine import Engine, Limits, Progress
from leapfrog.backup.factory import open_storage
from leapfrog.backup.retention import Policy
from leapfrog.backup.storage import Storage
from leapfrog.components._backup_options import BackupOptions
from leapfrog.shared.errors import LeapfrogError

__all__ = ["LocalStack", "backup_options", "engine_for", "policy_of", "storage_for"]


@dataclass(frozen=True)
class LocalStack:
    """A stack's state directory and its stores (components with a backup driver), by
    component name."""

    state_dir: Path
    stores: Mapping[str, Store]
    others: frozenset[str] = frozenset()
    """The stack's other components (no backup driver), for the error naming one."""

    @property
    def backups_dir(self) -> Path:
        """The lock and run history of each store; also the default storage."""
        return self.state_dir / "backups"

    def schedules(self) -> dict[str, BackupOptions]:
        """The stores whose `backups:` declares a `schedule`, with that block."""
        found = {}
        for name, store in sorted(self.stores.items()):
            declared = backup_options(store.options)
            if declared is not None and declared.schedule:
                found[name] = declared
        return found


def backup_options(options: Any) -> BackupOptions | None:
    """A store's `backups:` block, if it declares one."""
    declared = getattr(options, "backups", None)
    return declared if isinstance(declared, BackupOptions) else None


def policy_of(options: Any, **override: int | None) -> Policy:
    """What a prune keeps: the stack file's `backups:` values, each overridden when given."""
    declared = backup_options(options) or BackupOptions()
    keys = ("keep_last", "keep_daily", "keep_weekly", "keep_monthly")
    values = {key: getattr(declared, key) for key in keys}
    values |= {key: value for key, value in override.items() if value is not None}
    return Policy(**values)


def storage_for(stack: LocalStack, store: Store) -> Storage:
    return open_storage(backup_options(store.options), stack.state_dir)


CHOICE_FLAGS = {"topic": "--topic", "index": "--index", "database": "--database"}
"""What part of a store a run may be limited to (the driver's `chooses`), and its flag."""
_PLURALS = {"topic": "topics", "index": "indices", "database": "databases"}
"""The field of a store's `backups:` naming what a backup run holds by default."""


def engine_for(
    stack: LocalStack,
    store: str | None,
    limits: Limits | None = None,
    progress: Progress | None = None,
    *,
    choice: Mapping[str, tuple[str, ...]] | None = None,
    stack_choice: bool = False,
) -> Engine:
    """The engine of the store named `store` (None: the stack's only store); its driver
    limited to `choice` (from the flags) or else, with `stack_choice` (a backup run),
    to what the store's `backups:` block chooses."""
    names = sorted(stack.stores)
    hint = f"stores with a backup driver here: {', '.join(names) or 'none'}"
    if store is None:
        if len(names) != 1:
            raise LeapfrogError(
                "name the store to back up" if names else "this stack has no store to back up",
                hint=hint,
            )
        store = names[0]
    handle = stack.stores.get(store)
    if handle is None:
        if store in stack.others:
            raise LeapfrogError(f"{store} has no backup driver", hint=hint)
        raise LeapfrogError(f"{store} is not a component of this stack", hint=hint)
    kind = handle.component.kind
    chooses = driver_for(kind).chooses
    for noun in choice or {}:
        if noun != chooses:
            raise LeapfrogError(
                f"{store} ({kind}) has no {noun} to choose",
                hint=f"choose with {CHOICE_FLAGS[chooses]}"
                if chooses
                else f"a {kind} backup is always of the whole store",
            )
    only = (choice or {}).get(chooses, ())
    if not choice and stack_choice and chooses:
        only = tuple(getattr(backup_options(handle.options), _PLURALS[chooses], None) or ())
    driver = driver_for(kind, only)
    storage = storage_for(stack, handle)
    return Engine(handle, driver, storage, stack.backups_dir, limits or Limits(), progress)
