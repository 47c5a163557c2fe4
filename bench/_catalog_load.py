"""The two workloads of bench/catalog.py, the same for the catalog and the bare baseline.

* registrations: N keep-alive connections each send one PUT after another until a fixed
  list of distinct registrations is used up (or the time limit is hit);
* watchers: W blocking GETs on one service plus O on other services, then one change per
  round; each watcher's latency runs from the moment the change is sent to the moment the
  last byte of its answer is read.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from _catalog_http import Connection, HttpClientError, Reply, open_connections
from _catalog_proc import BenchError, ServerProcess

__all__ = [
    "Change",
    "Registrations",
    "WatchResult",
    "WatchRound",
    "WatchSession",
    "health_path",
    "register_all",
    "registration_body",
]

REGISTER = "/v1/agent/service/register"
WAIT = "60s"  # far longer than any round: a watcher answered in a round was woken
TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
SPURIOUS_GRACE = 0.3  # seconds to let wrongly woken watchers of other services show up

Change = Callable[[int], tuple[str, str, bytes, bytes | None]]
"""round -> (method, path, body, bytes every woken watcher's body must hold, or None)."""


def health_path(service: str) -> str:
    return f"/v1/health/service/{service}"


def registration_body(service: str, instance: str, number: int, ttl: str | None) -> bytes:
    """One instance as a Consul client registers it: address, port, tags, meta, a TTL check."""
    body: dict[str, object] = {
        "Name": service,
        "ID": instance,
        "Address": f"127.10.{number // 250 % 250}.{number % 250 + 1}",
        "Port": 8000 + number % 1000,
        "Tags": ["v1", f"shard-{number % 8}"],
        "Meta": {"version": "1.4.2", "zone": "local-a"},
    }
    if ttl is not None:
        body["Check"] = {"TTL": ttl}
    return json.dumps(body).encode()


# -- registrations ---------------------------------------------------------------------


@dataclass
class Registrations:
    requested: int
    done: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str | None = None
    timed_out: bool = False

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0


async def register_all(
    host: str, port: int, bodies: list[bytes], connections: int, limit: float
) -> Registrations:
    """PUT every body over `connections` keep-alive connections; stops at `limit` seconds."""
    conns = await open_connections(host, port, connections)
    result = Registrations(len(bodies))
    todo = iter(bodies)
    deadline = 0.0

    async def worker(conn: Connection) -> None:
        for body in todo:
            if time.perf_counter() > deadline:
                result.timed_out = True
                return
            sent = time.perf_counter()
            reply = await conn.request("PUT", REGISTER, body)
            result.latencies.append(reply.arrived - sent)
            if reply.status == 200:
                result.done += 1
            else:
                result.errors += 1
                result.first_error = result.first_error or f"{reply.status} {reply.body[:200]!r}"

    try:
        started = time.perf_counter()
        deadline = started + limit
        await asyncio.gather(*(worker(c) for c in conns))
        result.seconds = time.perf_counter() - started
    except HttpClientError as exc:
        raise BenchError(f"registrations: {exc}") from None
    finally:
        for conn in conns:
            conn.close()
    return result


# -- watchers ----------------------------------------------------------------------------


@dataclass
class _Watch:
    conn: Connection
    path: str
    index: int
    pending: asyncio.Future[Reply] | None = None

    def arm(self) -> None:
        self.pending = self.conn.send("GET", f"{self.path}?index={self.index}&wait={WAIT}")

    def answered(self) -> Reply | None:
        """The reply, if one came (a lost connection counts as none)."""
        if self.pending is None or not self.pending.done() or self.pending.exception():
            return None
        return self.pending.result()


@dataclass
class WatchRound:
    latencies: list[float]
    """Seconds from sending the change to each woken watcher's full answer."""
    ack: float
    """Seconds from sending the change to its own answer."""
    missing: int = 0
    """Watchers of the changed service not answered within the limit."""
    wrong: int = 0
    """Answered, but not 200, or without a higher index, or without the change."""
    early: int = 0
    """Answered before the change was made."""
    spurious: int = 0
    """Watchers of other services that were answered (they must not wake)."""
    settled: bool = True
    """The server went idle before the change (every watch parked)."""
    cpu_ms: float = 0.0
    """The server's CPU time from the change until every watcher was answered (10 ms steps)."""
    client_cpu_ms: float = 0.0
    """This process's CPU time over the same span: the load generator's own share."""


@dataclass
class WatchResult:
    rounds: list[WatchRound]
    parked_rss_mb: float
    """The server's VmRSS with every watch parked, before the first change."""
    last_body: bytes


class WatchSession:
    """The watchers of one server, parked and re-armed round after round, so that the
    rounds of two servers can be interleaved (bench/catalog.py alternates them)."""

    def __init__(self, server: ServerProcess, change: Change, limit: float) -> None:
        self.server = server
        self.change = change
        self.limit = limit
        self.rounds: list[WatchRound] = []
        self.parked_rss_mb = 0.0
        self.last_body = b""
        self._control: Connection | None = None
        self._conns: list[Connection] = []
        self._watched: list[_Watch] = []
        self._bystanders: list[_Watch] = []

    async def open(
        self, *, service: str, others: list[str], watchers: int, other_watchers: int
    ) -> None:
        """Open the connections and park every watcher (the server's memory is read once
        they are all parked)."""
        host, port = self.server.host, self.server.port
        try:
            self._control = control = (await open_connections(host, port, 1))[0]
            self._conns = await open_connections(host, port, watchers + other_watchers)
            first = await control.request("GET", health_path(service))
            if first.status != 200:
                raise BenchError(
                    f"GET {health_path(service)} answered {first.status}: {first.body!r}"
                )
            self.last_body = first.body
            self._watched = [
                _Watch(c, health_path(service), first.index) for c in self._conns[:watchers]
            ]
            for number, conn in enumerate(self._conns[watchers:]):
                other = health_path(others[number % len(others)])
                index = (await control.request("GET", other)).index
                self._bystanders.append(_Watch(conn, other, index))
        except HttpClientError as exc:
            raise BenchError(f"{self.server.label} watchers: {exc}") from None
        for watch in (*self._watched, *self._bystanders):
            watch.arm()
        await self.server.wait_idle()
        self.parked_rss_mb = self.server.memory_mb()[0]

    async def round(self) -> WatchRound:
        """One change, timed until every watcher of the changed service is answered."""
        try:
            return await self._round(len(self.rounds))
        except HttpClientError as exc:
            raise BenchError(f"{self.server.label} watchers: {exc}") from None

    async def _round(self, number: int) -> WatchRound:
        server, watched, control = self.server, self._watched, self._control
        assert control is not None
        settled = await server.wait_idle()
        early = sum(1 for w in watched if w.pending is not None and w.pending.done())
        method, path, payload, marker = self.change(number)
        ticks, own = server.cpu_ticks(), time.process_time()
        sent = time.perf_counter()
        ack = control.send(method, path, payload)
        pending = [w.pending for w in watched if w.pending is not None and not w.pending.done()]
        if pending:
            await asyncio.wait(pending, timeout=self.limit)
        acked = await asyncio.wait_for(ack, timeout=self.limit)
        cpu_ms = (server.cpu_ticks() - ticks) * 1000 / TICKS_PER_SECOND
        client_cpu_ms = (time.process_time() - own) * 1000
        if acked.status != 200:
            raise BenchError(f"the change {method} {path} answered {acked.status}: {acked.body!r}")
        await asyncio.sleep(SPURIOUS_GRACE)
        result = WatchRound(
            [],
            acked.arrived - sent,
            early=early,
            settled=settled,
            cpu_ms=cpu_ms,
            client_cpu_ms=client_cpu_ms,
        )
        for watch in watched:
            reply = watch.answered()
            if reply is None:
                result.missing += 1
                continue
            result.latencies.append(reply.arrived - sent)
            good = reply.status == 200 and reply.index > watch.index
            if not good or (marker is not None and marker not in reply.body):
                result.wrong += 1
            watch.index, self.last_body = reply.index, reply.body
            watch.arm()
        for watch in self._bystanders:
            reply = watch.answered()
            if reply is not None:
                result.spurious += 1
                watch.index = reply.index
                watch.arm()
        self.rounds.append(result)
        return result

    def result(self) -> WatchResult:
        return WatchResult(self.rounds, self.parked_rss_mb, self.last_body)

    def close(self) -> None:
        for conn in (*self._conns, *([self._control] if self._control else [])):
            conn.close()
