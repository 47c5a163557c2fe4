"""Stored poison: a bad record on disk is quarantined on load, never served; and the
snapshot is durable (file and directory fsynced) before the logs it replaces go away."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path

import pytest
from catalog_fakes import READS as FAKE_READS
from catalog_fakes import FakeChecker, call, make_api, make_store

from leapfrog.catalog._journal import QUARANTINE, SNAPSHOT, Journal
from leapfrog.catalog._model import Service
from leapfrog.catalog._persist import dump_store
from leapfrog.catalog._records import InvalidRecord
from leapfrog.catalog._store import Store

READS = (*FAKE_READS, "/v1/kv/?recurse")


def poisoned_snapshot(directory: Path) -> None:
    """A snapshot as an older catalog wrote it after accepting NaN and other bad values."""
    store = make_store()
    store.register_service(Service("web1", "web", port=80), [])
    state = dump_store(store)
    good_check = next(c for c in state["checks"] if c["id"] == "serfHealth")
    nan_check = dict(good_check, id="bad-timeout", name="t", service_id="web1")
    nan_check["definition"] = {
        "check_id": "bad-timeout",
        "kind": "http",
        "http": "http://127.0.0.1:1/",
        "interval": 10.0,
        "timeout": float("nan"),
    }
    state["checks"].append(nan_check)
    state["checks"].append(dict(good_check, id="bad-status", status="sleepy"))
    state["services"].append(dict(state["services"][0], id="web2", port=float("inf")))
    state["services"].append(dict(state["services"][0], id="web3", name="\ud800"))
    state["services"].append({"id": "web4"})
    state["kv"]["entries"].append(["k", "not base64!", 0, 1, 1])
    state["kv"]["entries"].append(["k2", "", -1, 1, 1])
    state["sessions"].append({"id": "s", "node": "node1", "lock_delay": float("nan")})
    state["wal_seq"] = 0
    (directory / SNAPSHOT).write_text(json.dumps(state))
    with open(directory / "wal-0.jsonl", "w") as wal:
        wal.write('{"o":"chk","v":{"id":"x"}}\n[1, 2]\n{"o":"what"}\n')
        wal.write('{"o":"kv","k":"k3","v":"","f":1e400,"c":1,"m":1}\n')


def test_bad_records_on_disk_are_quarantined_and_reads_keep_working(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    poisoned_snapshot(tmp_path)

    async def main() -> None:
        store = make_store(tmp_path)
        store.start_checks(FakeChecker())
        api = make_api(store)
        for target in READS:
            response = await call(api, "GET", target)
            assert response.status == (404 if "/kv/" in target else 200), (target, response.body)
        assert set(store.services) == {"web1"}
        assert "bad-timeout" not in store.checks and "bad-status" not in store.checks
        assert store.sessions.get("s") is None
        assert set(store.kv.entries) == set()

    with caplog.at_level(logging.WARNING, logger="leapfrog.catalog"):
        asyncio.run(main())
    quarantined = [json.loads(line) for line in (tmp_path / QUARANTINE).read_text().splitlines()]
    assert len(quarantined) == 12
    assert {q["from"] for q in quarantined} >= {"snapshot.json check", "journal"}
    assert sum("quarantined a bad record" in r.message for r in caplog.records) == 12


def test_a_check_with_nan_is_never_stored_nor_written(tmp_path: Path) -> None:
    async def main() -> None:
        store = make_store(tmp_path)
        store.start_checks(FakeChecker())
        api = make_api(store)
        body = b'{"Name":"c","HTTP":"http://127.0.0.1:1/","Interval":"10s","Timeout":NaN}'
        assert (await call(api, "PUT", "/v1/agent/check/register", body)).status == 400
        body = b'{"Name":"web","Check":{"TCP":"h:1","Interval":Infinity}}'
        assert (await call(api, "PUT", "/v1/agent/service/register", body)).status == 400
        await store.log.committed()
        for target in READS[:-1]:
            assert (await call(api, "GET", target)).status == 200, target

    asyncio.run(main())
    for wal in tmp_path.glob("wal-*.jsonl"):
        assert "NaN" not in wal.read_text() and "Infinity" not in wal.read_text()


def test_the_store_refuses_a_bad_record_whatever_the_route(tmp_path: Path) -> None:
    store: Store = make_store()
    with pytest.raises(InvalidRecord, match="Port"):
        store.register_service(Service("w", "w", port=70000), [])
    with pytest.raises(InvalidRecord, match="Unicode"):
        store.register_service(Service("w", "\udc00"), [])
    assert "w" not in store.services


def test_snapshot_is_fsynced_with_its_directory_before_old_logs_are_deleted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    real_fsync, real_replace, real_unlink = os.fsync, os.replace, Path.unlink

    def fsync(fd: int) -> None:
        target = os.readlink(f"/proc/self/fd/{fd}")
        events.append("fsync " + ("dir" if os.path.isdir(target) else Path(target).name))
        real_fsync(fd)

    def replace(src: str, dst: str) -> None:
        events.append(f"rename {Path(dst).name}")
        real_replace(src, dst)

    def unlink(path: Path, missing_ok: bool = False) -> None:
        events.append(f"unlink {path.name}")
        real_unlink(path, missing_ok=missing_ok)

    async def main() -> None:
        journal = Journal(tmp_path)
        journal.load()
        journal.open()
        journal.append({"o": "idx", "i": 1, "t": []})
        await journal.committed()
        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "replace", replace)
        monkeypatch.setattr(Path, "unlink", unlink)
        await journal.snapshot(lambda: {"log": {}})
        await journal.close()

    asyncio.run(main())
    rename = events.index(f"rename {SNAPSHOT}")
    gone = events.index("unlink wal-0.jsonl")
    assert any(e.startswith(f"fsync .{SNAPSHOT}.") for e in events[:rename]), events
    assert "fsync dir" in events[rename:gone], events
