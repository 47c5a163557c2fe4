"""TCP checks against a real listening port and a closed one."""

from __future__ import annotations

import pytest

from leapfrog.catalog.checks import CheckDefinition, Status, make_checker

from .conftest import Servers
from .support import Reports, run

pytestmark = pytest.mark.timeout(60)


def first_report(address: str, initial: Status) -> tuple[Status, str]:
    found: list[tuple[Status, str]] = []

    async def scenario() -> None:
        reports = Reports()
        checker = make_checker(reports, min_interval=0.05)
        checker.add(CheckDefinition("db", "tcp", tcp=address, interval=0.05), initial)
        found.extend(await reports.wait("db"))
        await checker.close()

    run(scenario)
    return found[0]


def test_open_port_passes(servers: Servers) -> None:
    address = f"127.0.0.1:{servers.http_port}"
    assert first_report(address, "critical") == ("passing", f"TCP connect {address}: Success")


def test_closed_port_is_critical_with_dial_error(closed_port: int) -> None:
    address = f"127.0.0.1:{closed_port}"
    assert first_report(address, "passing") == (
        "critical",
        f"dial tcp {address}: connect: connection refused",
    )


def test_address_without_port_is_critical() -> None:
    assert first_report("127.0.0.1", "passing") == (
        "critical",
        "dial tcp address 127.0.0.1: missing or bad port in address",
    )
