"""add/replace/remove/close: one task per check, nothing left running afterwards."""

from __future__ import annotations

import asyncio

import pytest

from leapfrog.catalog.checks import CheckDefinition, make_checker

from .conftest import Servers
from .support import Reports, run

pytestmark = pytest.mark.timeout(60)


def check_tasks() -> set[asyncio.Task[object]]:
    return {t for t in asyncio.all_tasks() if t.get_name().startswith("check ")}


def test_add_with_an_existing_id_replaces_the_check(servers: Servers) -> None:
    async def scenario() -> None:
        reports = Reports()
        checker = make_checker(reports, min_interval=0.02)
        failing = servers.url("/status/500")
        checker.add(CheckDefinition("c", "http", http=failing, interval=0.02), "passing")
        await reports.wait("c")
        (old,) = check_tasks()
        passing = servers.url("/status/200")
        checker.add(CheckDefinition("c", "http", http=passing, interval=0.02), "critical")
        await asyncio.sleep(0)
        assert old.cancelled()
        found = await reports.wait("c", count=2)
        assert found[1][0] == "passing"
        assert len(check_tasks()) == 1
        await checker.close()

    run(scenario)


def test_replacing_an_http_check_by_a_ttl_check_stops_the_runner(servers: Servers) -> None:
    async def scenario() -> None:
        checker = make_checker(Reports(), min_interval=0.02)
        checker.add(CheckDefinition("c", "http", http=servers.url("/status/200")), "passing")
        checker.add(CheckDefinition("c", "ttl", ttl=60), "passing")
        await asyncio.sleep(0)
        assert not check_tasks()
        checker.ttl_update("c", "warning", "now a TTL check")
        await checker.close()

    run(scenario)


def test_removed_check_stops_running(servers: Servers) -> None:
    async def scenario() -> None:
        servers.hits["removed"] = 0
        checker = make_checker(Reports(), min_interval=0.02)
        definition = CheckDefinition("r", "http", http=servers.url("/state/removed"), interval=0.02)
        checker.add(definition, "critical")
        async with asyncio.timeout(10):
            while servers.hits["removed"] < 2:
                await asyncio.sleep(0.01)
        checker.remove("r")
        checker.remove("r")  # removing twice, or an unknown id, is harmless
        await asyncio.sleep(0)
        seen = servers.hits["removed"]
        await asyncio.sleep(0.2)
        assert servers.hits["removed"] == seen
        assert not check_tasks()
        await checker.close()

    run(scenario)


def test_interval_below_the_minimum_is_raised_to_it(servers: Servers) -> None:
    async def scenario() -> None:
        servers.hits["clamped"] = 0
        checker = make_checker(Reports(), min_interval=0.5)
        url = servers.url("/state/clamped")
        checker.add(CheckDefinition("k", "http", http=url, interval=0.001), "critical")
        async with asyncio.timeout(10):
            while not servers.hits["clamped"]:
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)
        await checker.close()
        # The next run is 0.5 s after the first: a slow machine may let one more in, but an
        # unclamped 1 ms interval would have made hundreds.
        assert servers.hits["clamped"] <= 2

    run(scenario)


def test_close_cancels_every_check_and_waits(servers: Servers, closed_port: int) -> None:
    async def scenario() -> None:
        reports = Reports()
        checker = make_checker(reports, min_interval=0.02)
        slow = servers.url("/slow?delay=3")
        checker.add(CheckDefinition("slow", "http", http=slow, interval=0.02), "passing")
        checker.add(CheckDefinition("tcp", "tcp", tcp=f"127.0.0.1:{closed_port}"), "passing")
        checker.add(CheckDefinition("ttl", "ttl", ttl=0.05), "passing")
        await reports.wait("tcp")
        await checker.close()
        assert not check_tasks()
        seen = list(reports.seen)
        await asyncio.sleep(0.2)
        assert reports.seen == seen  # the TTL timer went too

    run(scenario)


def test_many_checks_run_side_by_side(servers: Servers) -> None:
    count = 300

    async def scenario() -> None:
        reports = Reports()
        checker = make_checker(reports, min_interval=0.05)
        address = f"127.0.0.1:{servers.http_port}"
        for n in range(count):
            checker.add(CheckDefinition(f"t{n}", "tcp", tcp=address, interval=60), "critical")
        checker.add(CheckDefinition("web", "http", http=servers.url("/status/200")), "critical")
        for n in range(count):
            await reports.wait(f"t{n}")
        await reports.wait("web")
        assert len(check_tasks()) == count + 1
        await checker.close()
        assert {status for _, status, _ in reports.seen} == {"passing"}

    run(scenario)
