"""The stack file's stores as the backup engine needs them: where the local runtime put
each instance (address, data directory, user) and what each component installed.

Used by `leapfrog backup ...` and by the scheduler (`leapfrog backup scheduler`, the
`backups` component's process); the engine itself is built by `leapfrog.backup`.
"""

from __future__ import annotations

from typing import Any

from leapfrog.backup import Store
from leapfrog.backup._stack import LocalStack
from leapfrog.backup.drivers import known_drivers
from leapfrog.components.base import Component, Installation
from leapfrog.plan import build_plan
from leapfrog.runtime.local import StatePaths
from leapfrog.runtime.local.launch import build_launches
from leapfrog.shared.cache import cache_dir
from leapfrog.spec import Stack

__all__ = ["local_stack"]


def local_stack(stack: Stack) -> LocalStack:
    paths = StatePaths(stack.state_dir)
    paths.create()
    installed: dict[str, Installation] = {}

    def install(kind: str, comp: Component[Any], options: Any) -> Installation:
        installed[kind] = comp.install(options, cache_dir(), lambda _line: None)
        return installed[kind]

    launches = build_launches(stack, build_plan(stack), paths, install)
    stores: dict[str, Store] = {}
    others: set[str] = set()
    for name, group in launches.items():
        run = group[0].component if group else None
        if run is None:
            continue
        if run.component.kind not in known_drivers():
            others.add(name)
            continue
        stores[name] = Store(name, run.component, run.options, run.where, installed[name])
    return LocalStack(paths.root, stores, frozenset(others))
