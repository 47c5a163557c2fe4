"""Helpers for the checker tests: a report collector and a leak-checking loop runner."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from leapfrog.catalog.checks import Status


class Reports:
    """Collects the checker's reports; waits for one that matches."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Status, str]] = []

    def __call__(self, check_id: str, status: Status, output: str) -> None:
        self.seen.append((check_id, status, output))

    def of(self, check_id: str) -> list[tuple[Status, str]]:
        return [(status, output) for cid, status, output in self.seen if cid == check_id]

    async def wait(
        self, check_id: str, count: int = 1, timeout: float = 10.0
    ) -> list[tuple[Status, str]]:
        """At least count reports for check_id (fails the test after timeout seconds)."""
        async with asyncio.timeout(timeout):
            while len(self.of(check_id)) < count:
                await asyncio.sleep(0.01)
        return self.of(check_id)


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    """Run scenario on a fresh loop; fail on leftover tasks or errors asyncio logged."""

    async def main() -> None:
        errors: list[dict[str, object]] = []
        asyncio.get_running_loop().set_exception_handler(lambda _, ctx: errors.append(ctx))
        await scenario()
        leftover = asyncio.all_tasks() - {asyncio.current_task()}
        assert not leftover, leftover
        assert not errors, errors

    asyncio.run(main())
