"""Watchers see a change only once it is on disk: a crash must not take back what a
watcher (a load balancer, a template renderer) already acted on."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from catalog_fakes import make_store


def test_kv_watchers_wake_after_the_fsync_not_before(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = make_store(tmp_path)
        journal = store.log.journal
        assert journal is not None
        release = threading.Event()
        write = journal._write

        def slow_write(lines: list[bytes]) -> None:
            release.wait(10)
            write(lines)

        journal._write = slow_write  # type: ignore[method-assign]
        watcher = asyncio.create_task(store.hub.wait((), "app/", 10))
        await asyncio.sleep(0.05)
        assert store.kv.put("app/color", b"blue", 0, None)
        await asyncio.sleep(0.2)
        assert not watcher.done(), "woken while the change was not yet on disk"
        release.set()
        await asyncio.wait_for(watcher, 5)
        await journal.close()

    asyncio.run(scenario())


def test_without_a_journal_watchers_wake_at_once() -> None:
    async def scenario() -> None:
        store = make_store()
        watcher = asyncio.create_task(store.hub.wait((), "app/", 10))
        await asyncio.sleep(0.01)
        store.kv.put("app/color", b"blue", 0, None)
        await asyncio.wait_for(watcher, 1)

    asyncio.run(scenario())
