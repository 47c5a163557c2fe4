"""Event-loop stalls of the catalog with 10,000 instances: how long the loop is held by a
snapshot, and by DNS answers (an SRV over TCP: thousands of records; over UDP).

A probe task on the catalog's own loop (uvloop, as `leapfrog catalog serve` runs it)
sleeps 1 ms again and again and notes how late it wakes; the baseline is the same probe
while nothing else happens. Prints the worst and the p99 lateness of each. In process
(the probe must share the loop), on free loopback ports, with a temp data dir.

    .venv/bin/python bench/catalog_stalls.py [--instances 10000] [--queries 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import uvloop

from leapfrog.catalog import CatalogConfig, _persist, start
from leapfrog.catalog._model import Check, Service


class Probe:
    """How late 1 ms sleeps wake while something else runs on the loop."""

    def __init__(self) -> None:
        self.late: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.001)
            self.late.append(max(0.0, time.perf_counter() - before - 0.001) * 1000)

    async def during(self, work: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
        self.late = []
        self._task = asyncio.create_task(self._run())
        await asyncio.sleep(0.02)
        try:
            await work()
            await asyncio.sleep(0.02)
        finally:
            self._task.cancel()
        ordered = sorted(self.late)
        return ordered[-1], ordered[int(len(ordered) * 0.99) - 1]


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="lf-stalls-") as tmp:
        running = await start(CatalogConfig(data_dir=Path(tmp), http_port=0, dns_port=0))
        try:
            store = running.store
            for number in range(args.instances):
                address = f"10.{number // 65536}.{number // 256 % 256}.{number % 256}"
                service = Service(f"web-{number}", "web", address=address, port=8000)
                check = Check(f"service:web-{number}", "ttl", "passing", f"web-{number}")
                store.register_service(service, [(check, False)])
            await store.log.committed()
            journal = store.log.journal
            assert journal is not None
            # The snapshot as the catalog takes it (capture_store; dump_store before it).
            capture = getattr(_persist, "capture_store", None) or _persist.dump_store
            probe = Probe()
            rows: list[tuple[str, float, float]] = []
            rows.append(("idle (baseline)", *await probe.during(lambda: asyncio.sleep(0.5))))
            for _ in range(2):
                snap = await probe.during(lambda: journal.snapshot(lambda: capture(store)))
                rows.append(("snapshot", *snap))
            port = running.dns_port
            assert port is not None
            for kind, ask in (("tcp", dns.query.tcp), ("udp", dns.query.udp)):
                query = dns.message.make_query("web.service.consul", "SRV")
                for number in range(args.queries):
                    if number == 0:  # the first answer after a change reads the store
                        store.register_service(Service("poke", "web", port=1), [])
                    result = await probe.during(
                        lambda a=ask, q=query: asyncio.to_thread(
                            a, q, "127.0.0.1", port=port, timeout=10
                        )  # type: ignore[misc]
                    )
                    rows.append(
                        (f"dns SRV {kind} ({'first' if number == 0 else 'again'})", *result)
                    )
        finally:
            await running.close()
    print(f"{'':28} {'worst ms':>9} {'p99 ms':>8}")
    for label, worst, p99 in rows:
        print(f"{label:28} {worst:9.1f} {p99:8.1f}")
    by: dict[str, list[float]] = {}
    for label, worst, _ in rows:
        by.setdefault(label.split(" (")[0], []).append(worst)
    idle = by.pop("idle")[0]
    print()
    for label, worsts in by.items():
        median = statistics.median(worsts)
        print(f"{label:28} worst {max(worsts):7.1f} ms (median {median:.1f}), idle {idle:.1f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=5, help="DNS queries of each kind (5)")
    uvloop.run(main(parser.parse_args()))
