"""Sessions: the records that hold KV locks, and what invalidates them.

A session is invalidated when it is destroyed, when its TTL passes without a renewal
(Consul waits twice the TTL before it acts, and so does this), or when one of its checks
turns critical or is deregistered. Then its locks are released (behavior `release`, the
values stay) or its keys deleted (`delete`), and for its lock-delay nobody may acquire
them. TTL deadlines live in memory: after a restart every TTL starts counting again, as
Consul's do after a leader change. All deadlines share one loop timer.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Callable, Mapping
from typing import Any

from leapfrog.catalog._index import IndexLog
from leapfrog.catalog._kvstore import KVStore
from leapfrog.catalog._model import Check
from leapfrog.catalog._records import check_session

__all__ = ["SESSIONS", "TTL_MULTIPLIER", "Session", "SessionStore"]

SESSIONS = "sessions"
"""The topic of every session change (session/list, session/info, session/node)."""
TTL_MULTIPLIER = 2
"""Consul invalidates a TTL session only after twice its TTL without a renewal."""


class Session:
    __slots__ = (
        "behavior",
        "create_index",
        "id",
        "lock_delay",
        "modify_index",
        "name",
        "node",
        "node_checks",
        "service_checks",
        "ttl",
        "ttl_seconds",
    )

    def __init__(
        self,
        id: str,
        node: str,
        *,
        name: str = "",
        behavior: str = "release",
        lock_delay: float = 15.0,
        ttl: str = "",
        ttl_seconds: float = 0.0,
        node_checks: tuple[str, ...] = (),
        service_checks: tuple[str, ...] = (),
        create_index: int = 0,
        modify_index: int = 0,
    ) -> None:
        self.id = id
        self.node = node
        self.name = name
        self.behavior = behavior
        self.lock_delay = lock_delay
        """Seconds."""
        self.ttl = ttl
        """As the client gave it ("10s"); "" for no TTL."""
        self.ttl_seconds = ttl_seconds
        self.node_checks = node_checks
        self.service_checks = service_checks
        self.create_index = create_index
        self.modify_index = modify_index

    def checks(self) -> tuple[str, ...]:
        return self.node_checks + self.service_checks

    def to_dict(self) -> dict[str, Any]:
        data = {f: getattr(self, f) for f in self.__slots__}
        data["node_checks"] = list(self.node_checks)
        data["service_checks"] = list(self.service_checks)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Session:
        data = dict(data)
        data["node_checks"] = tuple(data.get("node_checks", ()))
        data["service_checks"] = tuple(data.get("service_checks", ()))
        return cls(**data)


class SessionStore:
    def __init__(
        self,
        log: IndexLog,
        kv: KVStore,
        checks: Mapping[str, Check],
        clock: Callable[[], float],
    ) -> None:
        self._log = log
        self._kv = kv
        self._checks = checks
        self._clock = clock
        self.sessions: dict[str, Session] = {}
        self._deadlines: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0

    # ---- reads ------------------------------------------------------------------------

    def get(self, session_id: str) -> Session | None:
        return self.sessions.get(session_id)

    def all(self) -> list[Session]:
        return sorted(self.sessions.values(), key=lambda s: (s.create_index, s.id))

    def of_node(self, node: str) -> list[Session]:
        return [s for s in self.all() if s.node.lower() == node.lower()]

    def index(self) -> int:
        return self._log.of(SESSIONS)

    def now(self) -> float:
        return self._clock()

    # ---- changes ----------------------------------------------------------------------

    def create(self, session: Session) -> None:
        check_session(session)
        index = self._log.next((SESSIONS,))
        session.create_index = session.modify_index = index
        self.sessions[session.id] = session
        self._log.record({"o": "ses", "v": session.to_dict()})
        self._start_ttl(session)

    def renew(self, session_id: str) -> Session | None:
        """Restart the TTL of a session; None if there is no such session."""
        session = self.sessions.get(session_id)
        if session is not None:
            self._start_ttl(session)
        return session

    def destroy(self, session_id: str) -> bool:
        """Invalidate a session: its locks are released or its keys deleted."""
        session = self.sessions.pop(session_id, None)
        if session is None:
            return False
        self._deadlines.pop(session_id, None)
        index = self._log.next((SESSIONS,))
        self._log.record({"o": "ses-", "id": session_id})
        delay_until = self._clock() + session.lock_delay if session.lock_delay > 0 else 0.0
        self._kv.forget_delays(self._clock())
        self._kv.drop_session(session_id, session.behavior == "delete", index, delay_until)
        return True

    def check_failed(self, check_id: str) -> list[str]:
        """A check turned critical or was deregistered: invalidate the sessions it guards."""
        doomed = [s.id for s in self.sessions.values() if check_id in s.checks()]
        for session_id in doomed:
            self.destroy(session_id)
        return doomed

    # ---- TTL --------------------------------------------------------------------------

    def _start_ttl(self, session: Session) -> None:
        if session.ttl_seconds <= 0:
            return
        deadline = self._clock() + session.ttl_seconds * TTL_MULTIPLIER
        self._deadlines[session.id] = deadline
        heapq.heappush(self._heap, (deadline, session.id))
        self._arm()

    def expire_due(self) -> list[str]:
        """Invalidate the sessions whose TTL deadline has passed."""
        now = self._clock()
        expired: list[str] = []
        while self._heap and self._heap[0][0] <= now:
            deadline, session_id = heapq.heappop(self._heap)
            if self._deadlines.get(session_id) == deadline:  # else renewed or destroyed
                expired.append(session_id)
                self.destroy(session_id)
        return expired

    def arm(self) -> None:
        """Schedule the loop timer for the next deadline (call once a loop runs)."""
        self._arm()

    def _arm(self) -> None:
        if not self._heap:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop yet (replay, synchronous tests): `arm()` is called later
        first = self._heap[0][0]
        if self._timer is not None and self._timer_at <= first:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = first
        self._timer = loop.call_later(max(0.0, first - self._clock()), self._fire)

    def _fire(self) -> None:
        self._timer = None
        self.expire_due()
        self._arm()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # ---- durable state ----------------------------------------------------------------

    def replay(self, record: dict[str, Any]) -> bool:
        kind = record.get("o")
        if kind == "ses":
            self.restore_one(record["v"])
        elif kind == "ses-":
            self.sessions.pop(record["id"], None)
            self._deadlines.pop(record["id"], None)
        else:
            return False
        return True

    def restore_one(self, data: dict[str, Any]) -> None:
        session = Session.from_dict(data)
        self.sessions[session.id] = session
        self._start_ttl(session)  # TTLs count again from the restart

    def dump(self) -> list[dict[str, Any]]:
        return [s.to_dict() for s in self.sessions.values()]
