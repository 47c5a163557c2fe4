"""TTL checks: heartbeats set the status, silence turns critical, others raise NotTTL."""

from __future__ import annotations

import asyncio

import pytest

from leapfrog.catalog.checks import CheckDefinition, NotTTL, make_checker

from .conftest import Servers
from .support import Reports, run

pytestmark = pytest.mark.timeout(60)


def ttl_check(ttl: float, **fields: object) -> CheckDefinition:
    return CheckDefinition(check_id="beat", kind="ttl", ttl=ttl, **fields)  # type: ignore[arg-type]


def test_pass_warn_fail_and_update_are_reported_as_given() -> None:
    async def scenario() -> None:
        reports = Reports()
        checker = make_checker(reports)
        checker.add(ttl_check(60), "critical")
        checker.ttl_update("beat", "passing", "all good")
        checker.ttl_update("beat", "warning", "")
        checker.ttl_update("beat", "critical", "down")
        checker.ttl_update("beat", "critical", "down")  # no change, no report
        checker.ttl_update("beat", "passing", "")
        assert reports.of("beat") == [
            ("passing", "all good"),
            ("warning", ""),
            ("critical", "down"),
            ("passing", ""),
        ]
        await checker.close()

    run(scenario)


def test_silence_past_the_ttl_turns_critical() -> None:
    async def scenario() -> None:
        reports = Reports()
        checker = make_checker(reports)
        checker.add(ttl_check(0.1), "passing")
        assert await reports.wait("beat") == [("critical", "TTL expired")]
        await checker.close()

    run(scenario)


def test_expiry_keeps_the_last_heartbeat_output() -> None:
    async def scenario() -> None:
        reports = Reports()
        checker = make_checker(reports)
        checker.add(ttl_check(0.1), "critical")
        checker.ttl_update("beat", "passing", "serving 12 clients")
        found = await reports.wait("beat", count=2)
        assert found[1] == (
            "critical",
            "TTL expired (last output before timeout follows): serving 12 clients",
        )
        await checker.close()

    run(scenario)


def test_heartbeats_within_the_ttl_keep_it_alive() -> None:
    async def scenario() -> None:
        reports = Reports()
        checker = make_checker(reports)
        checker.add(ttl_check(1.0), "critical")
        for _ in range(15):
            checker.ttl_update("beat", "passing", "")
            await asyncio.sleep(0.1)
        assert reports.of("beat") == [("passing", "")]
        # It still expires once the heartbeats stop.
        assert (await reports.wait("beat", count=2))[1] == ("critical", "TTL expired")
        await checker.close()

    run(scenario)


def test_a_heartbeat_after_expiry_rearms_the_ttl() -> None:
    async def scenario() -> None:
        reports = Reports()
        checker = make_checker(reports)
        checker.add(ttl_check(0.1), "passing")
        await reports.wait("beat")
        checker.ttl_update("beat", "passing", "back")
        found = await reports.wait("beat", count=3)
        assert found == [("critical", "TTL expired"), ("passing", "back"), found[2]]
        assert found[2][0] == "critical"
        await checker.close()

    run(scenario)


def test_long_output_is_truncated_like_consul() -> None:
    async def scenario() -> None:
        reports = Reports()
        checker = make_checker(reports)
        checker.add(ttl_check(60, output_max_size=10), "critical")
        checker.ttl_update("beat", "passing", "0123456789abcdef")
        assert reports.of("beat") == [("passing", "0123456789 ... (captured 10 of 16 bytes)")]
        await checker.close()

    run(scenario)


def test_unknown_and_non_ttl_checks_raise_not_ttl(servers: Servers) -> None:
    async def scenario() -> None:
        checker = make_checker(Reports())
        with pytest.raises(NotTTL):
            checker.ttl_update("nope", "passing", "")
        checker.add(CheckDefinition("web", "http", http=servers.url("/status/200")), "critical")
        with pytest.raises(NotTTL):
            checker.ttl_update("web", "passing", "")
        checker.add(ttl_check(60), "critical")
        checker.remove("beat")
        with pytest.raises(NotTTL):
            checker.ttl_update("beat", "passing", "")
        await checker.close()

    run(scenario)


def test_removed_ttl_check_never_expires() -> None:
    async def scenario() -> None:
        reports = Reports()
        checker = make_checker(reports)
        checker.add(ttl_check(0.05), "passing")
        checker.remove("beat")
        await asyncio.sleep(0.3)
        assert reports.of("beat") == []
        await checker.close()

    run(scenario)
