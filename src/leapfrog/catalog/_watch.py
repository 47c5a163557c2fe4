"""Wake-ups for blocking queries: one future per waiting request, grouped by topic.

A topic names what a query reads ("svc/web", "services", "checks", ...); KV queries
wait on a key prefix and are woken by a change to any key under it. A change resolves
only the futures of the topics it touches, so a watcher of one service never wakes for
another. Waking is a hint: the query re-reads its index and waits again if unchanged.

Two kinds of waiters: a future (`wait`, for code that awaits), and a `Parked` callback
(`park`), the cheap path of blocking reads: no coroutine waits, and a change calls every
parked callback of its topics from one loop callback, which writes the answers itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

__all__ = ["Parked", "WatchHub"]

log = logging.getLogger("leapfrog.catalog")


class Parked:
    """A parked waiter: `wake` is called once, in a loop callback, when one of its topics
    changes or when its time is up (not if `cancel` came first)."""

    __slots__ = ("_groups", "_hub", "_prefix", "_timer", "_topics", "_wake")

    def __init__(
        self,
        hub: WatchHub,
        topics: tuple[str, ...],
        prefix: str | None,
        wake: Callable[[], None],
    ) -> None:
        self._hub = hub
        self._topics = topics
        self._prefix = prefix
        self._wake: Callable[[], None] | None = wake
        self._groups: list[set[_Waiter]] = []
        self._timer: asyncio.TimerHandle | None = None

    @property
    def done(self) -> bool:
        return self._wake is None

    def fire(self) -> None:
        wake = self._wake
        if wake is None:
            return
        self.cancel()
        try:
            wake()
        except Exception:  # one broken waiter must not keep the others asleep
            log.exception("catalog: waking a blocking query failed")

    def cancel(self) -> None:
        if self._wake is None:
            return
        self._wake = None
        if self._timer is not None:
            self._timer.cancel()
        for group in self._groups:
            group.discard(self)
        self._hub._drop_empty(self._topics, self._prefix)


_Waiter = asyncio.Future[None] | Parked


class WatchHub:
    def __init__(self) -> None:
        self._topics: dict[str, set[_Waiter]] = {}
        self._prefixes: dict[str, set[_Waiter]] = {}
        self._to_fire: list[Parked] = []

    def watcher_count(self) -> int:
        return sum(len(s) for s in self._topics.values()) + sum(
            len(s) for s in self._prefixes.values()
        )

    def notify(self, topics: set[str] | list[str] | tuple[str, ...]) -> None:
        for topic in topics:
            self._wake(self._topics.pop(topic, None))

    def notify_key(self, key: str) -> None:
        """A KV key changed: wake the watchers of every prefix of it."""
        if not self._prefixes:
            return
        for end in range(len(key) + 1):
            self._wake(self._prefixes.pop(key[:end], None))

    def park(
        self, topics: tuple[str, ...], prefix: str | None, timeout: float, wake: Callable[[], None]
    ) -> Parked:
        """Call `wake()` when one of `topics` (or a key under `prefix`) changes, or at
        `timeout`; `cancel()` the returned handle to stop waiting."""
        parked = Parked(self, topics, prefix, wake)
        groups = parked._groups
        for topic in topics:
            groups.append(self._topics.setdefault(topic, set()))
        if prefix is not None:
            groups.append(self._prefixes.setdefault(prefix, set()))
        for group in groups:
            group.add(parked)
        parked._timer = asyncio.get_running_loop().call_later(max(timeout, 0), parked.fire)
        return parked

    def _wake(self, group: set[_Waiter] | None) -> None:
        if not group:
            return
        for waiter in group:
            if type(waiter) is Parked:
                # Later, from one callback: the change that notifies may not be whole yet.
                if not self._to_fire:
                    asyncio.get_running_loop().call_soon(self._fire_parked)
                self._to_fire.append(waiter)
            else:
                _resolve(waiter)  # type: ignore[arg-type]

    def _fire_parked(self) -> None:
        parked, self._to_fire = self._to_fire, []
        for waiter in parked:
            waiter.fire()

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
