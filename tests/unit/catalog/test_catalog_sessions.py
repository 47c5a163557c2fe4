"""Sessions and KV locks in process: TTL, renew, behaviors, lock-delay, checks, replay."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from catalog_fakes import Clock, FakeChecker, call, header, make_api, make_store

from leapfrog.catalog._api import Api
from leapfrog.catalog._model import Check, Service
from leapfrog.catalog._persist import dump_store
from leapfrog.catalog._store import Store


def run(scenario: Callable[[Store, Api, Clock], Awaitable[None]], **options: Any) -> None:
    async def main() -> None:
        clock = Clock()
        store = make_store(clock=clock)
        store.start_checks(FakeChecker())
        await scenario(store, make_api(store, **options), clock)
        store.sessions.stop()

    asyncio.run(main())


async def create(api: Api, **body: Any) -> str:
    response = await call(api, "PUT", "/v1/session/create", json.dumps(body).encode())
    assert response.status == 200, response.body
    return str(json.loads(response.body)["ID"])


async def put(api: Api, target: str, value: bytes = b"v") -> Any:
    response = await call(api, "PUT", target, value)
    assert response.status == 200, response.body
    return json.loads(response.body)


async def entry(api: Api, key: str) -> dict[str, Any]:
    response = await call(api, "GET", f"/v1/kv/{key}")
    assert response.status == 200
    return dict(json.loads(response.body)[0])


def test_create_defaults_and_shapes() -> None:
    async def scenario(store: Store, api: Api, clock: Clock) -> None:
        sid = await create(api, Name="leader", TTL="15s")
        response = await call(api, "GET", f"/v1/session/info/{sid}")
        (info,) = json.loads(response.body)
        assert info == {
            "ID": sid,
            "Name": "leader",
            "Node": "node1",
            "LockDelay": 15_000_000_000,
            "Behavior": "release",
            "TTL": "15s",
            "NodeChecks": ["serfHealth"],
            "ServiceChecks": None,
            "CreateIndex": info["CreateIndex"],
            "ModifyIndex": info["CreateIndex"],
        }
        assert int(header(response, "X-Consul-Index") or 0) == info["CreateIndex"]
        for target in ("/v1/session/list", "/v1/session/node/node1"):
            assert json.loads((await call(api, "GET", target)).body) == [info]
        assert (await call(api, "GET", "/v1/session/node/other")).body == b"[]"
        assert (await call(api, "GET", "/v1/session/info/nope")).body == b"[]"

    run(scenario)


@pytest.mark.parametrize(
    ("body", "status", "text"),
    [
        ({"TTL": "5s"}, 500, "Invalid Session TTL '5000000000', must be between [10s=24h0m0s]"),
        ({"TTL": "90000s"}, 500, "must be between"),
        ({"TTL": "soon"}, 500, "Session TTL 'soon' invalid"),
        ({"Behavior": "keep"}, 500, "Invalid Behavior setting 'keep'"),
        ({"Node": "elsewhere"}, 500, "Missing node registration"),
        ({"NodeChecks": ["nope"]}, 500, "Missing check 'nope' registration"),
        ({"LockDelay": "later"}, 400, "Request decode failed"),
    ],
)
def test_create_rejects_with_consuls_texts(body: dict[str, Any], status: int, text: str) -> None:
    async def scenario(store: Store, api: Api, clock: Clock) -> None:
        response = await call(api, "PUT", "/v1/session/create", json.dumps(body).encode())
        assert (response.status, text in response.body.decode()) == (status, True)

    run(scenario)


def test_lock_delay_forms_and_checks_override() -> None:
    async def scenario(store: Store, api: Api, clock: Clock) -> None:
        for given, ns in (("0s", 0), ("2s", 2 * 10**9), (5, 5 * 10**9), (3 * 10**9, 3 * 10**9)):
            sid = await create(api, LockDelay=given, Checks=[])
            session = store.sessions.get(sid)
            assert session is not None
            assert round(session.lock_delay * 1e9) == ns
            assert session.checks() == ()

    run(scenario)


def test_two_sessions_compete_and_lock_index_counts_acquisitions() -> None:
    async def scenario(store: Store, api: Api, clock: Clock) -> None:
        a, b = await create(api, LockDelay="0s"), await create(api, LockDelay="0s")
        assert await put(api, f"/v1/kv/lead?acquire={a}", b"a") is True
        assert await put(api, f"/v1/kv/lead?acquire={b}", b"b") is False
        assert await put(api, f"/v1/kv/lead?acquire={a}", b"a2") is True  # already held
        got = await entry(api, "lead")
        assert (got["Session"], got["LockIndex"], got["Value"]) == (a, 1, "YTI=")
        assert await put(api, f"/v1/kv/lead?release={b}") is False
        assert await put(api, "/v1/kv/lead", b"plain") is True  # a plain write keeps the lock
        assert (await entry(api, "lead"))["Session"] == a
        assert await put(api, f"/v1/kv/lead?release={a}", b"done") is True
        got = await entry(api, "lead")
        assert "Session" not in got and got["LockIndex"] == 1
        assert await put(api, f"/v1/kv/lead?acquire={b}") is True  # no delay on a release
        assert (await entry(api, "lead"))["LockIndex"] == 2
        assert await put(api, "/v1/kv/fresh?release=" + a) is False

    run(scenario)


def test_acquire_with_unknown_or_missing_session_is_500() -> None:
    async def scenario(store: Store, api: Api, clock: Clock) -> None:
        response = await call(api, "PUT", "/v1/kv/k?acquire=nope", b"x")
        assert (response.status, response.body) == (500, b'invalid session "nope"')
        response = await call(api, "PUT", "/v1/kv/k?acquire=", b"x")
        assert (response.status, response.body) == (500, b"missing session")
        assert (await call(api, "GET", "/v1/kv/k")).status == 404

    run(scenario)


def test_ttl_expiry_after_twice_the_ttl_releases_and_applies_lock_delay() -> None:
    async def scenario(store: Store, api: Api, clock: Clock) -> None:
        sid = await create(api, TTL="10s", LockDelay="5s")
        other = await create(api, LockDelay="0s")
        assert await put(api, f"/v1/kv/job?acquire={sid}", b"mine") is True
        clock.now += 15
        assert store.sessions.expire_due() == []
        renewed = await call(api, "PUT", f"/v1/session/renew/{sid}")
        assert renewed.status == 200 and json.loads(renewed.body)[0]["ID"] == sid
        clock.now += 19  # 2 x TTL after the renewal is 20s
        assert store.sessions.expire_due() == []
        clock.now += 1
        assert store.sessions.expire_due() == [sid]
        got = await entry(api, "job")
        assert "Session" not in got and got["Value"] == "bWluZQ=="
        assert await put(api, f"/v1/kv/job?acquire={other}") is False  # lock-delay
        clock.now += 5
        assert await put(api, f"/v1/kv/job?acquire={other}") is True
        response = await call(api, "PUT", f"/v1/session/renew/{sid}")
        assert (response.status, response.body.decode()) == (
            404,
            f"Session id '{sid}' not found",
        )

    run(scenario)


def test_delete_behavior_deletes_the_keys_and_destroy_answers_true() -> None:
    async def scenario(store: Store, api: Api, clock: Clock) -> None:
        sid = await create(api, Behavior="delete")
        assert await put(api, f"/v1/kv/eph?acquire={sid}") is True
        assert await put(api, "/v1/kv/other") is True
        assert await put(api, f"/v1/session/destroy/{sid}", b"") is True
        assert (await call(api, "GET", "/v1/kv/eph")).status == 404
        assert (await call(api, "GET", "/v1/kv/other")).status == 200
        assert (await call(api, "GET", "/v1/session/list")).body == b"[]"
        assert await put(api, f"/v1/session/destroy/{sid}", b"") is True

    run(scenario)


def test_a_critical_check_invalidates_its_sessions() -> None:
    async def scenario(store: Store, api: Api, clock: Clock) -> None:
        store.register_service(
            Service("web1", "web"), [(Check("chk", "c", "passing", "web1"), False)]
        )
        sid = await create(api, ServiceChecks=[{"ID": "chk"}], NodeChecks=["serfHealth"])
        info = json.loads((await call(api, "GET", f"/v1/session/info/{sid}")).body)[0]
        assert info["ServiceChecks"] == [{"ID": "chk", "Namespace": ""}]
        assert await put(api, f"/v1/kv/held?acquire={sid}") is True
        store.update_check("chk", "warning", "meh")
        assert store.sessions.get(sid) is not None
        store.update_check("chk", "critical", "down")
        assert store.sessions.get(sid) is None
        assert "Session" not in await entry(api, "held")
        response = await call(api, "PUT", "/v1/session/create", b'{"Checks": ["chk"]}')
        assert (response.status, response.body) == (500, b"Check 'chk' is in critical state")
        store.update_check("chk", "passing", "ok")
        sid = await create(api, Checks=["chk"])
        store.deregister_service("web1")  # deregistering the check also invalidates
        assert store.sessions.get(sid) is None

    run(scenario)


def test_blocking_kv_watcher_wakes_on_acquire_and_session_list_blocks() -> None:
    async def scenario(store: Store, api: Api, clock: Clock) -> None:
        await put(api, "/v1/kv/lock", b"")
        index = header(await call(api, "GET", "/v1/kv/lock"), "X-Consul-Index")
        sessions_index = header(await call(api, "GET", "/v1/session/list"), "X-Consul-Index")
        kv_wait = asyncio.create_task(call(api, "GET", f"/v1/kv/lock?index={index}&wait=5s"))
        list_wait = asyncio.create_task(
            call(api, "GET", f"/v1/session/list?index={sessions_index}&wait=5s")
        )
        await asyncio.sleep(0.01)
        assert not kv_wait.done() and not list_wait.done()
        sid = await create(api)
        assert len(json.loads((await list_wait).body)) == 1
        assert not kv_wait.done()
        await put(api, f"/v1/kv/lock?acquire={sid}")
        assert json.loads((await kv_wait).body)[0]["Session"] == sid

    run(scenario)


def test_acl_makes_session_writes_and_locks_need_the_token() -> None:
    async def scenario(store: Store, api: Api, clock: Clock) -> None:
        for target in ("/v1/session/create", "/v1/session/destroy/x", "/v1/session/renew/x"):
            response = await call(api, "PUT", target)
            assert response.status == 403
            assert response.body.startswith(b"Permission denied: anonymous token lacks permission")
        response = await call(api, "PUT", "/v1/kv/k?acquire=x", b"")
        assert response.status == 403
        assert (await call(api, "GET", "/v1/session/list")).status == 200
        ok = await call(api, "PUT", "/v1/session/create", x_consul_token="secret")
        assert ok.status == 200

    run(scenario, token="secret")


@pytest.mark.parametrize("with_snapshot", [False, True])
def test_sessions_and_locks_replay_from_the_journal_and_ttls_restart(
    tmp_path: Path, with_snapshot: bool
) -> None:
    async def first_life() -> tuple[str, str, int]:
        store = make_store(tmp_path, Clock())
        api = make_api(store)
        keep = await create(api, TTL="10s", Name="keep")
        gone = await create(api, Behavior="delete")
        assert await put(api, f"/v1/kv/a?acquire={keep}") is True
        assert await put(api, f"/v1/kv/b?acquire={gone}") is True
        assert await put(api, f"/v1/session/destroy/{gone}", b"") is True
        await store.log.committed()
        index = store.log.index
        assert store.log.journal is not None
        if with_snapshot:
            await store.log.journal.snapshot(lambda: dump_store(store))
        store.sessions.stop()
        await store.log.journal.close()
        return keep, gone, index

    async def second_life(keep: str, gone: str, index: int) -> None:
        clock = Clock()
        clock.now = 5000.0  # a new process: its own clock
        store = make_store(tmp_path, clock)
        assert list(store.sessions.sessions) == [keep]
        a = store.kv.get("a")
        assert a is not None and (a.session, a.lock_index) == (keep, 1)
        assert store.kv.get("b") is None
        assert store.log.index >= index
        clock.now += 19
        assert store.sessions.expire_due() == []
        clock.now += 1
        assert store.sessions.expire_due() == [keep]
        a = store.kv.get("a")
        assert a is not None and a.session == ""
        assert store.log.index > index
        assert store.log.journal is not None
        await store.log.journal.close()

    keep, gone, index = asyncio.run(first_life())
    asyncio.run(second_life(keep, gone, index))
