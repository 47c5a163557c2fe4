"""Wake-ups for blocking queries: one future per waiting request, grouped by topic.

A topic names what a query reads ("svc/web", "services", "checks", ...); KV queries
wait on a key prefix and are woken by a change to any key under it. A change resolves
only the futures of the topics it touches, so a watcher of one service never wakes for
another. Waking is a hint: the query re-reads its index and waits again if unchanged.
"""

from __future__ import annotations

import asyncio

__all__ = ["WatchHub"]


class WatchHub:
    def __init__(self) -> None:
        self._topics: dict[str, set[asyncio.Future[None]]] = {}
        self._prefixes: dict[str, set[asyncio.Future[None]]] = {}

    def watcher_count(self) -> int:
        return sum(len(s) for s in self._topics.values()) + sum(
            len(s) for s in self._prefixes.values()
        )

    def notify(self, topics: set[str] | list[str] | tuple[str, ...]) -> None:
        for topic in topics:
            _wake(self._topics.pop(topic, None))

    def notify_key(self, key: str) -> None:
        """A KV key changed: wake the watchers of every prefix of it."""
        if not self._prefixes:
            return
        for end in range(len(key) + 1):
            _wake(self._prefixes.pop(key[:end], None))

    async def wait(self, topics: tuple[str, ...], prefix: str | None, timeout: float) -> None:
        """Return when one of `topics` (or a key under `prefix`) changes, or at `timeout`."""
        if timeout <= 0:
            return
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        groups = [self._topics.setdefault(t, set()) for t in topics]
        if prefix is not None:
            groups.append(self._prefixes.setdefault(prefix, set()))
        for group in groups:
            group.add(future)
        timer = loop.call_later(timeout, _resolve, future)
        try:
            await future
        finally:
            timer.cancel()
            for group in groups:
                group.discard(future)
            self._drop_empty(topics, prefix)

    def _drop_empty(self, topics: tuple[str, ...], prefix: str | None) -> None:
        for topic in topics:
            if not self._topics.get(topic, True):
                del self._topics[topic]
        if prefix is not None and not self._prefixes.get(prefix, True):
            del self._prefixes[prefix]


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _wake(group: set[asyncio.Future[None]] | None) -> None:
    if group:
        for future in group:
            _resolve(future)
