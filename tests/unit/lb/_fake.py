"""A watcher with answers given up front, for rendering templates without a catalog."""

from __future__ import annotations

from typing import Any

from leapfrog.lb import Dep


class FakeWatcher:
    def __init__(self, data: dict[Dep, Any] | None = None) -> None:
        self.data: dict[Dep, Any] = dict(data or {})
        self.watched: set[Dep] = set()

    def watch(self, dep: Dep) -> None:
        self.watched.add(dep)

    def has(self, dep: Dep) -> bool:
        return dep in self.data
