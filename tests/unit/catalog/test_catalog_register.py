"""/v1/catalog/register, /v1/catalog/deregister and /v1/catalog/node-services in process."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from catalog_fakes import FakeChecker, call, header, make_api, make_store

from leapfrog.catalog._api import Api
from leapfrog.catalog._store import Store


def run(scenario: Callable[[Store, Api, FakeChecker], Awaitable[None]], **options: Any) -> None:
    async def main() -> None:
        store = make_store()
        checker = FakeChecker()
        store.start_checks(checker)
        await scenario(store, make_api(store, **options), checker)

    asyncio.run(main())


def body(**fields: Any) -> bytes:
    return json.dumps({"Node": "node1", "Address": "127.0.0.1", **fields}).encode()


def test_register_service_and_checks_then_read_them_everywhere() -> None:
    async def scenario(store: Store, api: Api, checker: FakeChecker) -> None:
        service = {"Service": "db", "ID": "db1", "Tags": ["primary"], "Port": 5432}
        checks = [
            {"CheckID": "db-ok", "Name": "db alive", "ServiceID": "db1", "Status": "passing"},
            {"Name": "disk"},
        ]
        response = await call(
            api, "PUT", "/v1/catalog/register", body(Service=service, Checks=checks)
        )
        assert (response.status, response.body) == (200, b"true")
        health = json.loads((await call(api, "GET", "/v1/health/service/db")).body)
        (entry,) = health
        assert entry["Service"]["ID"] == "db1" and entry["Service"]["Tags"] == ["primary"]
        statuses = {c["CheckID"]: c["Status"] for c in entry["Checks"]}
        assert statuses == {"serfHealth": "passing", "disk": "critical", "db-ok": "passing"}
        assert checker.running == {}  # catalog checks are records: nobody runs them
        nodes = await call(api, "GET", "/v1/catalog/node-services/node1")
        listing = json.loads(nodes.body)
        assert listing["Node"]["Node"] == "node1"
        assert [s["ID"] for s in listing["Services"]] == ["db1"]
        assert int(header(nodes, "X-Consul-Index") or 0) >= store.services["db1"].modify_index

    run(scenario)


def test_register_keeps_existing_checks_of_the_service_and_replaces_agent_checks() -> None:
    async def scenario(store: Store, api: Api, checker: FakeChecker) -> None:
        agent_body = {"Name": "web", "ID": "w1", "Check": {"TTL": "10s"}}
        await call(api, "PUT", "/v1/agent/service/register", json.dumps(agent_body).encode())
        assert "service:w1" in checker.running
        await call(
            api,
            "PUT",
            "/v1/catalog/register",
            body(Service={"Service": "web", "ID": "w1", "Port": 81}),
        )
        assert store.services["w1"].port == 81 and "service:w1" in store.checks
        check = {"CheckID": "service:w1", "ServiceID": "w1", "Status": "warning"}
        await call(api, "PUT", "/v1/catalog/register", body(Check=check))
        assert store.checks["service:w1"].status == "warning"
        assert "service:w1" not in checker.running  # the static record replaced the TTL

    run(scenario)


@pytest.mark.parametrize(
    ("payload", "status", "text"),
    [
        (b"{", 400, "Request decode failed"),
        (b'{"Address": "1.2.3.4"}', 500, "Must provide node"),
        (b'{"Node": "node1"}', 500, "Must provide address if SkipNodeUpdate is not set"),
        (b'{"Node": "other", "Address": "1.2.3.4"}', 500, 'Cannot register node "other"'),
        (b'{"Node":"node1","Address":"a","Datacenter":"dc9"}', 500, "No path to datacenter"),
        (b'{"Node":"node1","Address":"a","Service":{"ID":"x"}}', 500, "Must provide service name"),
        (
            b'{"Node":"node1","Address":"a","Check":{"Name":"c","ServiceID":"nope"}}',
            500,
            "Missing service registration",
        ),
        (
            b'{"Node":"node1","Address":"a","Check":{"Name":"c","Node":"n2"}}',
            500,
            'Check node "n2" does not match node "node1"',
        ),
        (b'{"Node":"node1","Address":"a","Check":{"Name":"c","Status":"meh"}}', 400, "status"),
    ],
)
def test_register_errors_change_nothing(payload: bytes, status: int, text: str) -> None:
    async def scenario(store: Store, api: Api, checker: FakeChecker) -> None:
        before = store.log.index
        response = await call(api, "PUT", "/v1/catalog/register", payload)
        assert response.status == status
        assert text in response.body.decode()
        assert store.log.index == before

    run(scenario)


def test_register_service_with_a_bad_check_registers_nothing() -> None:
    async def scenario(store: Store, api: Api, checker: FakeChecker) -> None:
        payload = body(Service={"Service": "s", "ID": "s1"}, Check={"Name": "c", "Status": "x"})
        assert (await call(api, "PUT", "/v1/catalog/register", payload)).status == 400
        assert "s1" not in store.services

    run(scenario)


def test_deregister_service_check_and_unknowns() -> None:
    async def scenario(store: Store, api: Api, checker: FakeChecker) -> None:
        svc = {"Service": "db", "ID": "db1"}
        await call(api, "PUT", "/v1/catalog/register", body(Service=svc, Check={"Name": "n"}))
        dereg = "/v1/catalog/deregister"
        response = await call(api, "PUT", dereg, b'{"Node": "node1", "CheckID": "n"}')
        assert (response.status, response.body) == (200, b"true")
        assert "n" not in store.checks
        assert (
            await call(api, "PUT", dereg, b'{"Node":"node1","ServiceID":"db1"}')
        ).body == b"true"
        assert "db1" not in store.services
        for payload in (b'{"Node":"node1","ServiceID":"gone"}', b'{"Node":"elsewhere"}'):
            assert (await call(api, "PUT", dereg, payload)).body == b"true"
        own = await call(api, "PUT", dereg, b'{"Node": "node1"}')
        assert own.status == 500 and b"own node" in own.body
        serf = await call(api, "PUT", dereg, b'{"Node":"node1","CheckID":"serfHealth"}')
        assert serf.body == b"true" and "serfHealth" in store.checks
        assert (await call(api, "PUT", dereg, b"{}")).status == 500

    run(scenario)


def test_node_meta_is_replaced_and_filters_nodes() -> None:
    async def scenario(store: Store, api: Api, checker: FakeChecker) -> None:
        before = store.log.of("nodes")
        await call(api, "PUT", "/v1/catalog/register", body(NodeMeta={"rack": "r1"}))
        assert store.node_meta == {"rack": "r1"} and store.log.of("nodes") > before
        nodes = await call(api, "GET", "/v1/catalog/nodes?node-meta=rack:r1")
        assert len(json.loads(nodes.body)) == 1

    run(scenario)


def test_node_services_of_an_unknown_node_and_blocking() -> None:
    async def scenario(store: Store, api: Api, checker: FakeChecker) -> None:
        unknown = await call(api, "GET", "/v1/catalog/node-services/nope")
        assert json.loads(unknown.body) == {"Node": None, "Services": []}
        assert (await call(api, "GET", "/v1/catalog/node-services/")).status == 400
        first = await call(api, "GET", "/v1/catalog/node-services/node1")
        index = header(first, "X-Consul-Index")
        waiting = asyncio.ensure_future(
            call(api, "GET", f"/v1/catalog/node-services/node1?index={index}&wait=5s")
        )
        await asyncio.sleep(0.01)
        assert not waiting.done()
        await call(api, "PUT", "/v1/catalog/register", body(Service={"Service": "x"}))
        answer = await asyncio.wait_for(waiting, 5)
        assert [s["ID"] for s in json.loads(answer.body)["Services"]] == ["x"]

    run(scenario)


def test_register_needs_the_management_token() -> None:
    async def scenario(store: Store, api: Api, checker: FakeChecker) -> None:
        payload = body(Service={"Service": "x"})
        denied = await call(api, "PUT", "/v1/catalog/register", payload)
        assert denied.status == 403
        assert denied.body.startswith(b"Permission denied: anonymous token lacks permission")
        allowed = await call(api, "PUT", "/v1/catalog/register", payload, X_Consul_Token="s3")
        assert allowed.status == 200

    run(scenario, token="s3")
