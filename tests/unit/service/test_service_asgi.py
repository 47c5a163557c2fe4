from __future__ import annotations

import asyncio

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from leapfrog.service._asgi import PlatformMiddleware
from leapfrog.service._health import Health
from leapfrog.service._metrics import RequestMetrics, new_registry


async def item(request: Request) -> PlainTextResponse:
    return PlainTextResponse(request.path_params["id"])


def client() -> tuple[httpx.AsyncClient, Health]:
    health = Health()
    app = Starlette(routes=[Route("/items/{id}", item)])
    wrapped = PlatformMiddleware(
        app, health=health, metrics=RequestMetrics(new_registry()), hostname="box-7"
    )
    transport = httpx.ASGITransport(app=wrapped)
    return httpx.AsyncClient(transport=transport, base_url="http://t"), health


def test_health_endpoints_follow_the_phase_and_status() -> None:
    async def scenario() -> None:
        http, health = client()
        assert (await http.get("/health/hostname")).text == "box-7"
        assert (await http.get("/health/live")).status_code == 200
        assert (await http.get("/health/ready")).status_code == 503  # starting
        health.phase = "ready"
        assert (await http.get("/health/ready")).status_code == 200
        health.warn("slow disk")
        answer = await http.get("/health/ready")
        assert (answer.status_code, answer.text) == (429, "slow disk")
        health.phase = "draining"
        assert (await http.get("/health/ready")).status_code == 503

    asyncio.run(scenario())


def test_metrics_are_labelled_by_route_template() -> None:
    async def scenario() -> None:
        http, _ = client()
        for n in range(3):
            assert (await http.get(f"/items/{n}")).text == str(n)
        await http.get("/nowhere")
        text = (await http.get("/metrics")).text
        assert 'http_requests_total{method="GET",route="/items/{id}",status="200"} 3.0' in text
        assert 'route="unmatched",status="404"' in text
        assert 'http_requests_in_flight{method="GET",route="/items/{id}"} 0.0' in text
        assert "http_request_duration_seconds_bucket" in text

    asyncio.run(scenario())


def test_latency_buckets_are_cumulative_and_in_flight_counts() -> None:
    from prometheus_client import generate_latest

    metrics = RequestMetrics(new_registry())
    metrics.started("GET", "/a")
    metrics.started("GET", "/a")
    metrics.finished("GET", "/a", 200, 0.002)
    text = generate_latest(metrics.registry).decode()
    assert 'http_requests_in_flight{method="GET",route="/a"} 1.0' in text
    metrics.finished("GET", "/a", 503, 2.0)
    text = generate_latest(metrics.registry).decode()
    assert 'http_request_duration_seconds_bucket{le="0.001",method="GET",route="/a"} 0.0' in text
    assert 'http_request_duration_seconds_bucket{le="0.0025",method="GET",route="/a"} 1.0' in text
    assert 'http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/a"} 2.0' in text
    assert 'http_request_duration_seconds_sum{method="GET",route="/a"} 2.002' in text
    assert 'http_requests_total{method="GET",route="/a",status="503"} 1.0' in text
