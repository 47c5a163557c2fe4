"""py-consul's txn.put against the real server: results, rollback, a woken watcher."""

from __future__ import annotations

import base64
import threading

import consul
import pytest
from consul.exceptions import ClientError

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def kv(verb: str, key: str, value: bytes | None = None, **extra: object) -> dict[str, object]:
    op: dict[str, object] = {"Verb": verb, "Key": key, **extra}
    if value is not None:
        op["Value"] = base64.b64encode(value).decode()
    return {"KV": op}


def test_txn_put_applies_all_and_wakes_a_watcher_once(c: consul.Consul) -> None:
    index, _ = c.kv.get("itxn/", recurse=True)
    seen: list[tuple[int, list[str]]] = []

    def watch() -> None:
        new_index, entries = c.kv.get("itxn/", recurse=True, index=index, wait="10s")
        seen.append((int(new_index), [e["Key"] for e in entries or []]))

    watcher = threading.Thread(target=watch)
    watcher.start()
    answer = c.txn.put([kv("set", "itxn/a", b"1"), kv("set", "itxn/b", b"2"), kv("get", "itxn/a")])
    watcher.join(15)
    assert answer["Errors"] is None
    written = {r["KV"]["ModifyIndex"] for r in answer["Results"]}
    assert len(written) == 1
    assert base64.b64decode(answer["Results"][2]["KV"]["Value"]) == b"1"
    assert seen == [(written.pop(), ["itxn/a", "itxn/b"])]


def test_txn_put_failure_is_409_and_changes_nothing(c: consul.Consul) -> None:
    with pytest.raises(ClientError, match="409"):
        c.txn.put([kv("set", "itxn/never", b"x"), kv("get", "itxn/missing")])
    assert c.kv.get("itxn/never")[1] is None
