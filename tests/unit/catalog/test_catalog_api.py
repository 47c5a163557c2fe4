"""The HTTP API in process: shapes, headers, errors, blocking queries and ACL."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from catalog_fakes import FakeChecker, call, header, make_api, make_store

from leapfrog.catalog._api import Api
from leapfrog.catalog._store import Store

TTL_SERVICE = json.dumps({"name": "web", "id": "web1", "tags": ["a"], "check": {"ttl": "10s"}})


def run(scenario: Callable[[Store, Api], Awaitable[None]], **options: Any) -> None:
    async def main() -> None:
        store = make_store()
        store.start_checks(FakeChecker())
        await scenario(store, make_api(store, **options))

    asyncio.run(main())


def test_reads_carry_index_headers_even_on_404() -> None:
    async def scenario(store: Store, api: Api) -> None:
        for target in ("/v1/kv/missing", "/v1/catalog/services", "/v1/health/service/none"):
            response = await call(api, "GET", target)
            assert int(header(response, "X-Consul-Index") or 0) >= 1
            assert header(response, "X-Consul-KnownLeader") == "true"
            assert header(response, "X-Consul-LastContact") == "0"
        assert (await call(api, "GET", "/v1/kv/missing")).status == 404
        assert (await call(api, "GET", "/v1/catalog/services")).body == b"{}"

    run(scenario)


@pytest.mark.parametrize(
    ("method", "target", "body", "status", "text"),
    [
        ("GET", "/v1/catalog/services?dc=dc9", b"", 500, "No path to datacenter"),
        ("GET", "/v1/catalog/services?stale&consistent", b"", 400, "conflicting"),
        ("GET", "/v1/health/service/web?index=abc", b"", 400, "Invalid index"),
        ("GET", "/v1/health/service/web?index=1&wait=forever", b"", 400, "Invalid wait time"),
        ("GET", "/v1/health/service/web?passing=maybe", b"", 400, "Invalid value for ?passing"),
        ("GET", "/v1/health/state/bogus", b"", 400, "Invalid check state"),
        ("GET", "/v1/health/service/web?filter=Service.Port%20~%201", b"", 400, "boolean"),
        ("PUT", "/v1/agent/service/register", b"{", 400, "Request decode failed"),
        ("PUT", "/v1/agent/service/register", b'{"Port": 1}', 400, "Missing service name"),
        ("PUT", "/v1/agent/service/register", b'{"Name":"x","Port":"80"}', 400, "Port"),
        ("PUT", "/v1/agent/service/register", b'{"Name":"x","Check":{}}', 400, "HTTP, TCP or TTL"),
        (
            "PUT",
            "/v1/agent/service/register",
            b'{"Name":"x","Check":{"Args":["ls"]}}',
            400,
            "script",
        ),
        (
            "PUT",
            "/v1/agent/service/register",
            b'{"Name":"x","Check":{"TTL":"forever"}}',
            400,
            "invalid duration",
        ),
        (
            "PUT",
            "/v1/agent/service/register",
            b'{"Name":"x","Check":{"HTTP":"http://h/","Interval":"99999999h"}}',
            400,
            "out of range",
        ),
        ("PUT", "/v1/agent/check/register", b'{"TTL":"1s"}', 400, "Missing check name"),
        (
            "PUT",
            "/v1/agent/check/pass/nope",
            b"",
            500,
            'CheckID "nope" does not have associated TTL',
        ),
        ("PUT", "/v1/agent/service/maintenance/web1", b"", 400, "Missing value for enable"),
        ("PUT", "/v1/agent/check/update/x", b'{"Output": "o"}', 400, "Invalid check status"),
        ("PUT", "/v1/agent/maintenance?enable=sure", b"", 400, "Invalid value for enable"),
        ("PUT", "/v1/kv/", b"x", 400, "Missing key name"),
        ("PUT", "/v1/kv/big", b"x" * (512 * 1024 + 1), 413, "too large"),
        ("PUT", "/v1/kv/k?cas=-1", b"x", 400, "Invalid cas"),
        ("DELETE", "/v1/kv/", b"", 400, "Missing key name"),
        ("POST", "/v1/catalog/services", b"", 405, "not allowed"),
        ("GET", "/v1/nothing", b"", 404, "not found"),
    ],
)
def test_bad_requests_get_consuls_errors(
    method: str, target: str, body: bytes, status: int, text: str
) -> None:
    async def scenario(store: Store, api: Api) -> None:
        response = await call(api, method, target, body)
        assert response.status == status
        assert text in response.body.decode()
        assert response.content_type.startswith("text/plain")

    run(scenario)


def test_register_with_ttl_pass_warn_fail_and_passing_filter() -> None:
    async def scenario(store: Store, api: Api) -> None:
        assert (
            await call(api, "PUT", "/v1/agent/service/register", TTL_SERVICE.encode())
        ).status == 200
        checks = json.loads((await call(api, "GET", "/v1/agent/checks")).body)
        assert checks["service:web1"]["Status"] == "critical"
        assert "serfHealth" not in checks
        passing = json.loads((await call(api, "GET", "/v1/health/service/WEB?passing")).body)
        assert passing == []
        assert (await call(api, "PUT", "/v1/agent/check/pass/service:web1?note=fine")).status == 200
        entries = json.loads((await call(api, "GET", "/v1/health/service/web?passing=1")).body)
        assert [c["CheckID"] for c in entries[0]["Checks"]] == ["serfHealth", "service:web1"]
        assert entries[0]["Checks"][1]["Output"] == "fine"
        await call(api, "PUT", "/v1/agent/check/warn/service:web1")
        assert json.loads((await call(api, "GET", "/v1/health/service/web?passing")).body) == []
        body = b'{"Status": "passing", "Output": "back"}'
        await call(api, "PUT", "/v1/agent/check/update/service:web1", body)
        assert len(json.loads((await call(api, "GET", "/v1/health/service/web?passing")).body)) == 1
        await call(api, "PUT", "/v1/agent/service/maintenance/web1?enable=true&reason=deploy")
        assert json.loads((await call(api, "GET", "/v1/health/service/web?passing")).body) == []
        state = json.loads((await call(api, "GET", "/v1/health/state/critical")).body)
        assert [c["CheckID"] for c in state] == ["_service_maintenance:web1"]
        assert state[0]["Notes"] == "deploy"

    run(scenario)


def test_tags_filter_and_pretty() -> None:
    async def scenario(store: Store, api: Api) -> None:
        await call(api, "PUT", "/v1/agent/service/register", TTL_SERVICE.encode())
        other = b'{"Name":"web","ID":"web2","Tags":["b"],"Meta":{"env":"dev"}}'
        await call(api, "PUT", "/v1/agent/service/register", other)
        by_tag = json.loads((await call(api, "GET", "/v1/catalog/service/web?tag=b")).body)
        assert [e["ServiceID"] for e in by_tag] == ["web2"]
        both = json.loads((await call(api, "GET", "/v1/catalog/service/web?tag=a&tag=b")).body)
        assert both == []
        target = "/v1/health/service/web?filter=Service.Meta.env%20%3D%3D%20dev"
        assert [e["Service"]["ID"] for e in json.loads((await call(api, "GET", target)).body)] == [
            "web2"
        ]
        pretty = await call(api, "GET", "/v1/catalog/services?pretty")
        assert b"\n    " in pretty.body
        assert json.loads(pretty.body) == {"web": ["a", "b"]}

    run(scenario)


def test_blocking_wakes_on_its_service_only_and_times_out_with_the_same_index() -> None:
    async def scenario(store: Store, api: Api) -> None:
        await call(api, "PUT", "/v1/agent/service/register", b'{"Name":"web"}')
        first = await call(api, "GET", "/v1/health/service/web")
        index = header(first, "X-Consul-Index")
        watch = asyncio.create_task(
            call(api, "GET", f"/v1/health/service/web?index={index}&wait=2s")
        )
        await asyncio.sleep(0.05)
        await call(api, "PUT", "/v1/agent/service/register", b'{"Name":"db"}')
        await asyncio.sleep(0.05)
        assert not watch.done()
        await call(api, "PUT", "/v1/agent/service/deregister/web")
        woke = await asyncio.wait_for(watch, 1)
        assert int(header(woke, "X-Consul-Index") or 0) > int(index or 0)
        assert json.loads(woke.body) == []
        started = time.monotonic()
        again = header(woke, "X-Consul-Index")
        timed_out = await call(api, "GET", f"/v1/health/service/web?index={again}&wait=100ms")
        assert time.monotonic() - started >= 0.1
        assert timed_out.status == 200
        assert header(timed_out, "X-Consul-Index") == again

    run(scenario)


def test_kv_blocking_on_a_prefix_wakes_on_delete() -> None:
    async def scenario(store: Store, api: Api) -> None:
        await call(api, "PUT", "/v1/kv/app/a", b"1")
        first = await call(api, "GET", "/v1/kv/app?recurse")
        index = header(first, "X-Consul-Index")
        watch = asyncio.create_task(call(api, "GET", f"/v1/kv/app?recurse&index={index}"))
        await asyncio.sleep(0.02)
        await call(api, "PUT", "/v1/kv/other", b"1")
        await asyncio.sleep(0.02)
        assert not watch.done()
        assert json.loads((await call(api, "DELETE", "/v1/kv/app?recurse")).body) is True
        woke = await asyncio.wait_for(watch, 1)
        assert woke.status == 404
        assert int(header(woke, "X-Consul-Index") or 0) > int(index or 0)

    run(scenario)


def test_kv_shapes_keys_separator_raw_flags() -> None:
    async def scenario(store: Store, api: Api) -> None:
        await call(api, "PUT", "/v1/kv/a/b/c?flags=42", b"hi")
        await call(api, "PUT", "/v1/kv/a/d", b"")
        (entry,) = json.loads((await call(api, "GET", "/v1/kv/a/b/c")).body)
        assert entry["Value"] == "aGk=" and entry["Flags"] == 42 and entry["LockIndex"] == 0
        assert json.loads((await call(api, "GET", "/v1/kv/a/d")).body)[0]["Value"] is None
        keys = json.loads((await call(api, "GET", "/v1/kv/a/?keys&separator=/")).body)
        assert keys == ["a/b/", "a/d"]
        assert (await call(api, "GET", "/v1/kv/a/b/c?raw")).body == b"hi"

    run(scenario)


def test_acl_token_sources_and_errors() -> None:
    async def scenario(store: Store, api: Api) -> None:
        write = ("PUT", "/v1/kv/k", b"v")
        assert (await call(api, *write)).body.startswith(
            b"Permission denied: anonymous token lacks permission 'key:write' on \"k\""
        )
        denied = await call(api, *write, X_Consul_Token="wrong")
        assert (denied.status, denied.body) == (403, b"ACL not found")
        assert (await call(api, *write, X_Consul_Token="s3cret")).status == 200
        assert (await call(api, *write, Authorization="Bearer s3cret")).status == 200
        assert (await call(api, "PUT", "/v1/kv/k?token=s3cret", b"v")).status == 200
        assert (await call(api, "GET", "/v1/kv/k")).status == 200  # anonymous_read here

    run(scenario, token="s3cret")


def test_acl_without_anonymous_reads_lists_nothing() -> None:
    async def scenario(store: Store, api: Api) -> None:
        await call(api, "PUT", "/v1/agent/service/register", b'{"Name": "web"}', X_Consul_Token="t")
        anonymous = await call(api, "GET", "/v1/catalog/services")
        assert (anonymous.status, json.loads(anonymous.body)) == (200, {})
        allowed = await call(api, "GET", "/v1/catalog/services", X_Consul_Token="t")
        assert "web" in json.loads(allowed.body)

    run(scenario, token="t", anonymous_read=False)
