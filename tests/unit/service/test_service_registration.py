from __future__ import annotations

import asyncio
import json

import httpx

from leapfrog.service import ConsulAgent, Health, ServiceSettings, service_definition
from leapfrog.service._registration import Registration


def settings(**kw: object) -> ServiceSettings:
    env = {"LEAPFROG_SERVICE": "hello", "LEAPFROG_INSTANCE": "hello-1", "HOST": "127.0.0.9"}
    return ServiceSettings.from_env(env=env, **kw)


def test_http_check_polls_readiness_with_consul_durations() -> None:
    d = service_definition(settings(version="2.0", check_interval=0.5, deregister_after=90))
    assert d["ID"] == "hello-1" and d["Address"] == "127.0.0.9" and d["Port"] == 8000
    assert d["Meta"]["version"] == "2.0"
    assert d["Check"]["HTTP"] == "http://127.0.0.9:8000/health/ready"
    assert d["Check"]["Interval"] == "500ms"
    assert d["Check"]["Status"] == "passing"  # registered only once serving
    assert d["Check"]["DeregisterCriticalServiceAfter"] == "1m30s"


def test_ttl_and_tcp_and_none() -> None:
    assert service_definition(settings(check="ttl", ttl=6))["Check"]["TTL"] == "6s"
    assert service_definition(settings(check="tcp"))["Check"]["TCP"] == "127.0.0.9:8000"
    assert "Check" not in service_definition(settings(check="none"))


class FakeCatalog:
    """Just enough of the agent API, to drive Registration's logic without a server."""

    def __init__(self) -> None:
        self.services: dict[str, dict[str, object]] = {}
        self.ttl: list[tuple[str, str]] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/v1/agent/service/register":
            body = json.loads(request.content)
            self.services[body["ID"]] = body
            return httpx.Response(200)
        if path.startswith("/v1/agent/check/update/"):
            if not self.services:
                return httpx.Response(404, text="Unknown check ID")
            body = json.loads(request.content)
            self.ttl.append((body["Status"], body["Output"]))
            return httpx.Response(200)
        if path.startswith("/v1/agent/service/deregister/"):
            self.services.pop(path.rsplit("/", 1)[1], None)
            return httpx.Response(200)
        if path.startswith("/v1/agent/service/"):
            known = path.rsplit("/", 1)[1] in self.services
            headers = {"X-Consul-ContentHash": "abc"}
            return httpx.Response(200 if known else 404, json={}, headers=headers)
        return httpx.Response(404)


def test_ttl_heartbeat_carries_status_and_reregisters_after_a_reset() -> None:
    async def scenario() -> None:
        fake = FakeCatalog()
        agent = ConsulAgent("http://catalog", transport=httpx.MockTransport(fake.handle))
        health = Health(phase="ready")
        reg = Registration(settings(check="ttl", ttl=0.3), agent, health)
        task = asyncio.create_task(reg.run())
        await asyncio.wait_for(reg.registered.wait(), 2)
        health.warn("disk almost full")
        await asyncio.sleep(0.05)
        assert ("warning", "disk almost full") in fake.ttl
        fake.services.clear()  # the catalog lost its state
        for _ in range(100):
            await asyncio.sleep(0.02)
            if fake.services:
                break
        assert "hello-1" in fake.services and reg.registrations == 2
        assert await reg.deregister()
        assert fake.services == {}
        task.cancel()

    asyncio.run(scenario())
