"""The catalog's index: one counter for every change, plus the last index of each topic.

A query's index is that of its topics (or of its KV keys), so a watcher of one service
is not woken when another changes. Topic indexes keep the index of deletions too, so a
deleted result still answers with a higher index than before; they never go backwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from leapfrog.catalog._journal import Journal
from leapfrog.catalog._watch import WatchHub

__all__ = ["IndexLog", "service_topic"]

SERVICES = "services"
"""Any service registered, changed or removed (catalog/services)."""
NODES = "nodes"
"""The node list changed (catalog/nodes)."""
NODE = "node"
"""Anything on the node: services, checks, node fields (catalog/node, health/node)."""
CHECKS = "checks"
"""Any check changed (health/state)."""


def service_topic(name: str) -> str:
    return "svc/" + name.lower()


class IndexLog:
    def __init__(self, journal: Journal | None, hub: WatchHub) -> None:
        self.journal = journal
        self.hub = hub
        self.index = 0
        self.topics: dict[str, int] = {}

    def next(self, topics: Iterable[str]) -> int:
        """Allocate the index of a change touching `topics`; wakes their watchers."""
        self.index += 1
        touched = sorted(set(topics))
        for topic in touched:
            self.topics[topic] = self.index
        self.record({"o": "idx", "i": self.index, "t": touched})
        self.after_commit(lambda: self.hub.notify(touched))
        return self.index

    def after_commit(self, wake: Callable[[], None]) -> None:
        """Run `wake` once what was recorded so far is on disk: watchers must never see
        a change that a crash could still take back."""
        pending = self.journal.committed() if self.journal is not None else None
        if pending is None or pending.done():
            wake()
        else:
            pending.add_done_callback(lambda _done: wake())

    async def committed(self) -> None:
        """Wait until every change so far is on disk (no-op without a journal)."""
        if self.journal is not None:
            await self.journal.committed()

    def of(self, *topics: str) -> int:
        if len(topics) == 1:  # most reads watch one topic; every woken watcher asks
            return self.topics.get(topics[0], 0) or 1
        return max(1, *(self.topics.get(t, 0) for t in topics))

    def record(self, record: dict[str, Any]) -> None:
        if self.journal is not None:
            self.journal.append(record)

    def replay(self, record: dict[str, Any]) -> None:
        index = int(record["i"])
        self.index = max(self.index, index)
        for topic in record["t"]:
            self.topics[topic] = max(self.topics.get(topic, 0), index)

    def dump(self) -> dict[str, Any]:
        return {"index": self.index, "topics": dict(self.topics)}

    def restore(self, data: dict[str, Any]) -> None:
        self.index = int(data["index"])
        self.topics = {k: int(v) for k, v in data["topics"].items()}
