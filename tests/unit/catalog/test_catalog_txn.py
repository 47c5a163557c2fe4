"""PUT /v1/txn in process: verbs, Consul's errors, atomicity, one index, one wake-up."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from catalog_fakes import call, header, make_api, make_store

from leapfrog.catalog._api import Api
from leapfrog.catalog._sessions import Session
from leapfrog.catalog._store import Store


def run(scenario: Callable[[Store, Api], Awaitable[None]], data_dir: Path | None = None) -> None:
    async def main() -> None:
        store = make_store(data_dir)
        await scenario(store, make_api(store))
        if store.log.journal is not None:
            await store.log.journal.close()

    asyncio.run(main())


def kv(verb: str, key: str, value: bytes | None = None, **extra: Any) -> dict[str, Any]:
    op: dict[str, Any] = {"Verb": verb, "Key": key, **extra}
    if value is not None:
        op["Value"] = base64.b64encode(value).decode()
    return {"KV": op}


async def txn(api: Api, *ops: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = await call(api, "PUT", "/v1/txn", json.dumps(list(ops)).encode())
    return response.status, json.loads(response.body)


def test_writes_share_one_index_and_answer_without_values() -> None:
    async def scenario(store: Store, api: Api) -> None:
        status, body = await txn(api, kv("set", "t/a", b"1"), kv("set", "t/b", b"2", Flags=7))
        assert status == 200 and body["Errors"] is None
        results = [r["KV"] for r in body["Results"]]
        assert [r["Key"] for r in results] == ["t/a", "t/b"]
        assert all(r["Value"] is None for r in results)
        assert results[0]["ModifyIndex"] == results[1]["ModifyIndex"] == store.log.index
        assert store.kv.get("t/b") is not None and store.kv.get("t/b").flags == 7  # type: ignore[union-attr]
        status, body = await txn(api, kv("get", "t/a"), kv("get-tree", "t/"))
        values = [base64.b64decode(r["KV"]["Value"]) for r in body["Results"]]
        assert (status, values) == (200, [b"1", b"1", b"2"])

    run(scenario)


def test_a_failing_operation_rolls_back_every_other() -> None:
    async def scenario(store: Store, api: Api) -> None:
        await txn(api, kv("set", "keep", b"old"))
        before = store.log.index
        status, body = await txn(
            api,
            kv("set", "keep", b"new"),
            kv("delete", "keep"),
            kv("set", "fresh", b"x"),
            kv("cas", "keep", b"y", Index=999),
            kv("check-not-exists", "nothing"),
            kv("get", "missing"),
        )
        assert status == 409 and body["Results"] is None
        assert body["Errors"] == [
            {"OpIndex": 3, "What": 'failed to set key "keep", index is stale'},
            {"OpIndex": 5, "What": 'key "missing" doesn\'t exist'},
        ]
        assert store.kv.get("keep").value == b"old"  # type: ignore[union-attr]
        assert store.kv.get("fresh") is None
        assert store.log.index == before

    run(scenario)


def test_later_operations_see_earlier_ones() -> None:
    async def scenario(store: Store, api: Api) -> None:
        status, body = await txn(
            api,
            kv("check-not-exists", "k"),
            kv("set", "k", b"v"),
            kv("check-index", "k", Index=store.log.index + 1),
            kv("delete-cas", "k", Index=store.log.index + 1),
            kv("check-not-exists", "k"),
        )
        assert status == 200, body
        assert store.kv.get("k") is None

    run(scenario)


@pytest.mark.parametrize(
    ("op", "what"),
    [
        (kv("frobnicate", "k"), 'unknown KV verb "frobnicate"'),
        (kv("set", ""), "Must provide key"),
        (kv("check-index", "k", Index=1), 'key "k" doesn\'t exist'),
        (kv("unlock", "k", Session="s"), 'failed to unlock key "k", lock isn\'t held'),
        (kv("lock", "k", b"v"), "missing session"),
        (kv("lock", "k", b"v", Session="nope"), 'invalid session "nope"'),
        (kv("delete-cas", "here", Index=1), 'failed to delete key "here", index is stale'),
        (kv("check-index", "here", Index=1), "current modify index"),
        (kv("check-session", "here", Session="s1"), 'current session "" doesn\'t equal'),
        (kv("check-not-exists", "here"), 'key "here" exists'),
    ],
)
def test_consuls_error_texts(op: dict[str, Any], what: str) -> None:
    async def scenario(store: Store, api: Api) -> None:
        await txn(api, kv("set", "here", b"x"), kv("set", "pad", b"x"))
        status, body = await txn(api, op)
        assert status == 409
        assert body["Errors"][0]["OpIndex"] == 0 and what in body["Errors"][0]["What"]

    run(scenario)


def test_lock_unlock_and_check_session() -> None:
    async def scenario(store: Store, api: Api) -> None:
        store.sessions.create(Session("s1", "node1"))
        store.sessions.create(Session("s2", "node1"))
        status, body = await txn(api, kv("lock", "l", b"v", Session="s1"))
        assert status == 200 and body["Results"][0]["KV"]["LockIndex"] == 1
        assert body["Results"][0]["KV"]["Session"] == "s1"
        status, body = await txn(api, kv("lock", "l", b"v", Session="s2"))
        assert body["Errors"][0]["What"] == 'failed to lock key "l", lock is already held'
        status, body = await txn(
            api, kv("check-session", "l", Session="s1"), kv("unlock", "l", b"v", Session="s1")
        )
        assert status == 200 and store.kv.get("l").session == ""  # type: ignore[union-attr]

    run(scenario)


def test_limits_and_bad_bodies() -> None:
    async def scenario(store: Store, api: Api) -> None:
        ops = [kv("get", f"k{i}") for i in range(129)]
        response = await call(api, "PUT", "/v1/txn", json.dumps(ops).encode())
        assert response.status == 413
        assert response.body == b"Transaction contains too many operations (129 > 128)"
        big = kv("set", "big", b"x" * (512 * 1024 + 1))
        response = await call(api, "PUT", "/v1/txn", json.dumps([big]).encode())
        assert response.status == 413 and b'Value for key "big" is too large' in response.body
        for payload in (b"{", b"{}", b'[{"KV": {"Verb": "set", "Key": "k", "Value": "***"}}]'):
            response = await call(api, "PUT", "/v1/txn", payload)
            assert response.status == 400 and response.body.startswith(b"Failed to parse body")
        status, body = await txn(api, {"Node": {"Verb": "get"}})
        assert status == 409 and "KV operations only" in body["Errors"][0]["What"]
        assert (await txn(api, *[kv("set", f"k{i}", b"") for i in range(128)]))[0] == 200

    run(scenario)


def test_read_only_transactions_answer_the_index_headers() -> None:
    async def scenario(store: Store, api: Api) -> None:
        await txn(api, kv("set", "a", b"1"))
        response = await call(api, "PUT", "/v1/txn", json.dumps([kv("get", "a")]).encode())
        assert header(response, "X-Consul-Index") == str(store.log.index)
        write = await call(api, "PUT", "/v1/txn", json.dumps([kv("set", "a", b"2")]).encode())
        assert header(write, "X-Consul-Index") is None

    run(scenario)


def test_watchers_are_woken_once_after_the_fsync(tmp_path: Path) -> None:
    async def scenario(store: Store, api: Api) -> None:
        await txn(api, kv("set", "w/seed", b"0"))
        start = store.log.index
        woken: list[str] = []
        notify_key = store.hub.notify_key
        store.hub.notify_key = lambda key: (woken.append(key), notify_key(key))[1]  # type: ignore[method-assign]
        waiting = asyncio.ensure_future(call(api, "GET", f"/v1/kv/w/?recurse&index={start}"))
        await asyncio.sleep(0.01)
        ops = [kv("set", "w/a", b"1"), kv("set", "w/b", b"2"), kv("delete", "w/seed")]
        doing = asyncio.ensure_future(txn(api, *ops))
        await asyncio.sleep(0)
        assert woken == []  # the transaction is applied, but not on disk yet
        assert (await doing)[0] == 200
        answer = await asyncio.wait_for(waiting, 5)
        entries = json.loads(answer.body)
        assert sorted(woken) == ["w/a", "w/b", "w/seed"]  # one wake-up per key, one batch
        assert header(answer, "X-Consul-Index") == str(start + 1)
        assert [e["Key"] for e in entries] == ["w/a", "w/b"]  # all of it at once

    run(scenario, tmp_path)


def test_a_transaction_is_one_journal_line_and_replays(tmp_path: Path) -> None:
    async def write(store: Store, api: Api) -> None:
        await txn(api, kv("set", "x", b"1"), kv("set", "y", b"2"))
        await txn(api, kv("delete", "x"))

    run(write, tmp_path)
    lines = [
        json.loads(line)
        for p in tmp_path.glob("wal-*.jsonl")
        for line in p.read_text().splitlines()
        if line
    ]
    assert sum(1 for r in lines if r["o"] == "kvtxn") == 2
    store = make_store(tmp_path)
    assert store.kv.get("x") is None and store.kv.get("y").value == b"2"  # type: ignore[union-attr]
    assert store.kv.index("x", prefix=False) == store.log.index
