"""Durable state: the journal replays, snapshots rotate, torn lines are skipped."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from catalog_fakes import make_store

from leapfrog.catalog._index import service_topic
from leapfrog.catalog._journal import SNAPSHOT_CHUNK, DirectoryBusy, Journal
from leapfrog.catalog._model import Check, Service
from leapfrog.catalog._persist import capture_store, dump_store
from leapfrog.catalog._store import Store
from leapfrog.catalog.checks.api import CheckDefinition


def fill(store: Store) -> None:
    definition = CheckDefinition(check_id="t", kind="ttl", ttl=5.0)
    check = Check("t", "ttl", "critical", "web1", definition=definition, deregister_after=90.0)
    store.register_service(Service("web1", "web", tags=("a",), port=80), [(check, True)])
    store.update_check("t", "warning", "slow")
    store.register_service(Service("db1", "db"), [])
    store.deregister_service("db1")
    store.kv.put("k/1", b"\x00\xff", 3, None)
    store.kv.put("k/2", b"v", 0, None)
    store.kv.delete("k/2", recurse=False, cas=None)


async def reopen(path: Path) -> Store:
    return make_store(path)


def snapshot_of(store: Store) -> tuple[object, ...]:
    return (
        store.log.index,
        dict(store.log.topics),
        {s.id: s.to_dict() for s in store.services.values()},
        {c.id: c.to_dict() for c in store.checks.values()},
        {k: (e.value, e.flags, e.modify_index) for k, e in store.kv.entries.items()},
        dict(store.kv.last_change),
        store.node_id,
    )


def test_the_log_replays_to_the_same_state(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = make_store(tmp_path)
        fill(store)
        await store.log.committed()
        before = snapshot_of(store)
        assert store.log.journal is not None
        await store.log.journal.close()
        again = await reopen(tmp_path)
        assert snapshot_of(again) == before
        again.register_service(Service("x", "x"), [])
        assert again.log.index > before[0]  # type: ignore[operator]
        assert again.log.journal is not None
        await again.log.journal.close()

    asyncio.run(scenario())


def test_snapshot_then_more_writes_then_replay(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = make_store(tmp_path)
        fill(store)
        journal = store.log.journal
        assert journal is not None
        await journal.snapshot(lambda: dump_store(store))
        store.kv.put("after", b"1", 0, None)
        await store.log.committed()
        before = snapshot_of(store)
        await journal.close()
        assert len(list(tmp_path.glob("wal-*.jsonl"))) == 1
        again = await reopen(tmp_path)
        assert snapshot_of(again) == before
        assert again.log.journal is not None
        await again.log.journal.close()

    asyncio.run(scenario())


def test_a_large_snapshot_is_encoded_between_loop_turns_and_misses_no_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The instances are encoded a chunk per loop turn (the loop serves meanwhile), and
    what changes while they are encoded is in the state after a restart."""

    async def scenario() -> None:
        store = make_store(tmp_path)
        count = SNAPSHOT_CHUNK * 8
        for number in range(count):
            check = Check(f"c{number}", "ttl", "passing", f"web{number}")
            store.register_service(Service(f"web{number}", "web", port=number), [(check, False)])
        await store.log.committed()
        journal = store.log.journal
        assert journal is not None
        encoded: list[str] = []
        to_dict = Service.to_dict
        monkeypatch.setattr(Service, "to_dict", lambda s: encoded.append(s.id) or to_dict(s))
        snapshot = asyncio.create_task(journal.snapshot(lambda: capture_store(store)))
        await asyncio.sleep(0)  # the snapshot starts
        await asyncio.sleep(0)  # ... and this runs while it encodes the instances
        assert 0 < len(encoded) < count
        # Changes while it is encoded: a new instance, a changed check, a removed one.
        store.register_service(Service("late", "web", port=1), [])
        store.update_check(f"c{count - 1}", "critical", "down")
        store.deregister_service("web0")
        await snapshot
        await store.log.committed()
        before = snapshot_of(store)
        await journal.close()
        again = await reopen(tmp_path)
        assert snapshot_of(again) == before
        assert "late" in again.services and "web0" not in again.services
        assert again.log.journal is not None
        await again.log.journal.close()

    asyncio.run(scenario())


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = make_store(tmp_path)
        store.register_service(Service("web1", "web"), [])
        await store.log.committed()
        index = store.log.of(service_topic("web"))
        assert store.log.journal is not None
        await store.log.journal.close()
        (wal,) = tmp_path.glob("wal-*.jsonl")
        with wal.open("ab") as handle:
            handle.write(b'{"o":"svc","v":{"id":"half')
        again = await reopen(tmp_path)
        assert list(again.services) == ["web1"]
        assert again.log.of(service_topic("web")) == index
        again.kv.put("k", b"v", 0, None)
        await again.log.committed()
        assert again.log.journal is not None
        await again.log.journal.close()
        third = await reopen(tmp_path)
        assert third.kv.get("k") is not None
        assert third.log.journal is not None
        await third.log.journal.close()

    asyncio.run(scenario())


def test_a_second_catalog_on_the_same_directory_is_refused(tmp_path: Path) -> None:
    first = Journal(tmp_path)
    with pytest.raises(DirectoryBusy):
        Journal(tmp_path)
    asyncio.run(first.close())
    asyncio.run(Journal(tmp_path).close())  # free again
