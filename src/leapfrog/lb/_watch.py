"""One blocking query per thing a template reads, each woken by the catalog's index."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import httpx

from leapfrog.lb._client import CatalogClient
from leapfrog.lb._data import ca_leaf, ca_roots, instances, key_pairs, key_value, service_names
from leapfrog.shared.errors import LeapfrogError

__all__ = ["Dep", "Watcher"]

log = logging.getLogger("leapfrog.lb")

Dep = tuple[str, ...]
"""("services",), ("service", name, tag, "passing"|"any"), ("key", path), ("keys", prefix),
("ca_roots",), ("ca_leaf", service)."""

_RETRY_FIRST, _RETRY_MAX = 0.2, 5.0


def _query(dep: Dep) -> tuple[str, dict[str, str], Callable[[Any], Any]]:
    kind = dep[0]
    if kind == "services":
        return "/v1/catalog/services", {}, service_names
    if kind == "service":
        _, name, tag, health = dep
        params = {"passing": "1"} if health == "passing" else {}
        if tag:
            params["tag"] = tag
        return f"/v1/health/service/{name}", params, instances
    if kind == "key":
        return f"/v1/kv/{dep[1]}", {}, key_value
    if kind == "keys":
        prefix = dep[1]
        return f"/v1/kv/{prefix}", {"recurse": "1"}, lambda data: key_pairs(data, prefix)
    if kind == "ca_roots":
        return "/v1/agent/connect/ca/roots", {}, ca_roots
    if kind == "ca_leaf":
        return f"/v1/agent/connect/ca/leaf/{dep[1]}", {}, ca_leaf
    raise ValueError(f"unknown dependency {dep!r}")


class Watcher:
    """Keeps the latest answer for every dependency; sets `changed` when one changes."""

    def __init__(self, client: CatalogClient) -> None:
        self.client = client
        self.data: dict[Dep, Any] = {}
        self.changed = asyncio.Event()
        self.errors: dict[Dep, str] = {}
        self._tasks: dict[Dep, asyncio.Task[None]] = {}
        self._fatal: LeapfrogError | None = None

    def watch(self, dep: Dep) -> None:
        if dep not in self._tasks:
            self._tasks[dep] = asyncio.create_task(self._loop(dep), name=f"watch {dep}")

    def has(self, dep: Dep) -> bool:
        return dep in self.data

    def retain(self, deps: set[Dep]) -> None:
        """Stop watching what the last render no longer read."""
        for dep in set(self._tasks) - deps:
            self._tasks.pop(dep).cancel()
            self.data.pop(dep, None)

    def check(self) -> None:
        """Raise the error that made watching impossible (a refused token)."""
        if self._fatal is not None:
            raise self._fatal

    async def _loop(self, dep: Dep) -> None:
        path, params, convert = _query(dep)
        index, delay = 0, _RETRY_FIRST
        while True:
            try:
                reply = await self.client.get(path, params, index)
            except LeapfrogError as exc:
                self._fatal = exc
                self.changed.set()
                return
            except (httpx.HTTPError, ValueError) as exc:
                if dep not in self.errors:
                    log.warning("catalog query %s failed: %s; retrying", path, exc)
                self.errors[dep] = str(exc) or type(exc).__name__
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX)
                continue
            self.errors.pop(dep, None)
            delay = _RETRY_FIRST
            value = convert(reply.data)
            if dep not in self.data or self.data[dep] != value:
                self.data[dep] = value
                self.changed.set()
            # Follow the index even when it goes backwards (a restarted catalog).
            index = max(reply.index, 1)

    async def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._tasks.clear()
        await self.client.close()
