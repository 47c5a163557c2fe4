"""/v1/agent/health/service/{name,id} and /v1/agent/service/<id> in process."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import pytest
from catalog_fakes import FakeChecker, call, header, make_api, make_store

from leapfrog.catalog._agent_health import aggregated_status
from leapfrog.catalog._api import Api
from leapfrog.catalog._model import Check
from leapfrog.catalog._store import Store


def run(scenario: Callable[[Store, Api], Awaitable[None]]) -> None:
    async def main() -> None:
        store = make_store()
        store.start_checks(FakeChecker())
        await scenario(store, make_api(store))

    asyncio.run(main())


async def register(api: Api, service_id: str, *checks: str) -> None:
    body = {"Name": "web", "ID": service_id, "Port": 80}
    body["Checks"] = [{"CheckID": c, "TTL": "30s", "Status": "passing"} for c in checks]
    await call(api, "PUT", "/v1/agent/service/register", json.dumps(body).encode())


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ((), "passing"),
        (("passing", "passing"), "passing"),
        (("passing", "warning"), "warning"),
        (("warning", "critical", "passing"), "critical"),
    ],
)
def test_aggregated_status_is_the_worst(statuses: tuple[str, ...], expected: str) -> None:
    checks = [Check(f"c{i}", "c", s) for i, s in enumerate(statuses)]  # type: ignore[arg-type]
    assert aggregated_status(checks) == expected


def test_maintenance_wins_over_everything() -> None:
    checks = [Check("a", "a", "passing"), Check("_service_maintenance:x", "m", "critical")]
    assert aggregated_status(checks) == "maintenance"


def test_status_codes_follow_the_worst_check_by_id_and_by_name() -> None:
    async def scenario(store: Store, api: Api) -> None:
        await register(api, "w1", "w1-a", "w1-b")
        await register(api, "w2", "w2-a")
        by_id = await call(api, "GET", "/v1/agent/health/service/id/w1")
        info = json.loads(by_id.body)
        assert by_id.status == 200 and info["AggregatedStatus"] == "passing"
        assert info["Service"]["ID"] == "w1" and info["Service"]["Port"] == 80
        assert [c["CheckID"] for c in info["Checks"]] == ["w1-a", "w1-b"]
        await call(api, "PUT", "/v1/agent/check/warn/w1-b")
        warn = await call(api, "GET", "/v1/agent/health/service/id/w1?format=text")
        assert (warn.status, warn.body) == (429, b"warning")
        assert warn.content_type.startswith("text/plain")
        by_name = await call(api, "GET", "/v1/agent/health/service/name/web")
        assert by_name.status == 429
        assert [i["AggregatedStatus"] for i in json.loads(by_name.body)] == ["warning", "passing"]
        await call(api, "PUT", "/v1/agent/check/fail/w2-a")
        text = await call(api, "GET", "/v1/agent/health/service/name/web?format=text")
        assert (text.status, text.body) == (503, b"critical")
        await call(api, "PUT", "/v1/agent/maintenance?enable=true")
        maintenance = await call(api, "GET", "/v1/agent/health/service/id/w1?format=text")
        assert (maintenance.status, maintenance.body) == (503, b"maintenance")

    run(scenario)


def test_unknown_services_are_404_in_consuls_shapes() -> None:
    async def scenario(store: Store, api: Api) -> None:
        by_id = await call(api, "GET", "/v1/agent/health/service/id/nope")
        assert by_id.status == 404
        assert json.loads(by_id.body) == {
            "AggregatedStatus": "critical",
            "Service": None,
            "Checks": None,
        }
        text = await call(api, "GET", "/v1/agent/health/service/id/nope?format=text")
        assert (text.status, text.body) == (404, b"ServiceId nope not found")
        by_name = await call(api, "GET", "/v1/agent/health/service/name/nope")
        assert (by_name.status, json.loads(by_name.body)) == (404, [])
        name_text = await call(api, "GET", "/v1/agent/health/service/name/nope?format=text")
        assert name_text.body == b"ServiceName nope Not Found"
        for target in ("/v1/agent/health/service/id/", "/v1/agent/health/service/name/"):
            assert (await call(api, "GET", target)).status == 400

    run(scenario)


def test_agent_service_has_a_content_hash_and_blocks_on_it() -> None:
    async def scenario(store: Store, api: Api) -> None:
        await register(api, "w1")
        first = await call(api, "GET", "/v1/agent/service/w1")
        rendered = json.loads(first.body)
        digest = rendered["ContentHash"]
        assert header(first, "X-Consul-ContentHash") == digest and len(digest) == 16
        assert rendered["ID"] == "w1" and rendered["Service"] == "web"
        assert rendered["Weights"] == {"Passing": 1, "Warning": 1}
        timed_out = await call(api, "GET", f"/v1/agent/service/w1?hash={digest}&wait=10ms")
        assert json.loads(timed_out.body)["ContentHash"] == digest
        waiting = asyncio.ensure_future(
            call(api, "GET", f"/v1/agent/service/w1?hash={digest}&wait=5s")
        )
        await asyncio.sleep(0.01)
        assert not waiting.done()
        body = {"Name": "web", "ID": "w1", "Port": 81}
        await call(api, "PUT", "/v1/agent/service/register", json.dumps(body).encode())
        changed = json.loads((await asyncio.wait_for(waiting, 5)).body)
        assert changed["Port"] == 81 and changed["ContentHash"] != digest
        missing = await call(api, "GET", "/v1/agent/service/nope")
        assert (missing.status, missing.body) == (404, b"unknown service ID: nope")

    run(scenario)
