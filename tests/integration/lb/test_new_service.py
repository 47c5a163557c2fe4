"""A service that appears while HAProxy runs is routed through the runtime API (a spare
backend's slots and a new route-map version), never a reload; real HAProxy and catalog."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from leapfrog.lb._route_map import MIN_BACKENDS
from leapfrog.testing import CatalogProcess

from .conftest import Backend, Balancer, wait_for


def _worker_starts(haproxy: Balancer) -> int:
    return sum(1 for e in haproxy.kinds("lb.applied") if e["how"] == "reload")


def test_a_new_service_and_its_route_without_a_reload(
    haproxy: Balancer, backends: Callable[..., Backend]
) -> None:
    old = backends("settled", "settled-1", "/settled")
    wait_for("the first service", lambda: haproxy.served_by("/settled") == {old.ident})
    reloads = _worker_starts(haproxy)
    applied = len(haproxy.kinds("lb.applied"))

    new = backends("arrived", "arrived-1", "/arrived/v1", strip=True)
    wait_for("the new service", lambda: haproxy.served_by("/arrived/v1/x") == {new.ident})
    answer = haproxy.http.get("/arrived/v1/items?page=2")
    assert answer.text.strip() == new.ident
    assert answer.headers["x-path"] == "/items?page=2"  # both segments stripped, query kept
    assert haproxy.http.get("/arrived/v1").headers["x-path"] == "/"
    assert haproxy.http.get("/arrived/v1x").status_code == 404  # a prefix, not a substring
    assert haproxy.served_by("/settled") == {old.ident}  # the other route is untouched

    changes = haproxy.kinds("lb.applied")[applied:]
    assert changes, "the new service was never applied"
    assert [e["how"] for e in changes] == ["runtime"] * len(changes)
    assert _worker_starts(haproxy) == reloads

    # Its access events name the service, not the pool backend that serves it.
    def logged() -> bool:
        return any(
            e.get("path") == "/arrived/v1/items?page=2" and e.get("backend") == "arrived"
            for e in haproxy.kinds("access")
        )

    wait_for("the access event", logged, timeout=5)


def test_a_gone_service_leaves_its_route_and_frees_its_backend(
    haproxy: Balancer, backends: Callable[..., Backend], catalog: CatalogProcess
) -> None:
    gone = backends("leaving", "leaving-1", "/leaving")
    wait_for("served", lambda: haproxy.served_by("/leaving") == {gone.ident})
    applied = len(haproxy.kinds("lb.applied"))
    gone.stop()
    deregister = f"http://{catalog.http_addr}/v1/agent/service/deregister/{gone.ident}"
    httpx.put(deregister).raise_for_status()
    wait_for("no route", lambda: haproxy.http.get("/leaving").status_code == 404)
    # The next service takes a free backend, still without a reload.
    after = backends("taking-over", "taking-over-1", "/taking-over")
    wait_for("served", lambda: haproxy.served_by("/taking-over") == {after.ident})
    changes = haproxy.kinds("lb.applied")[applied:]
    assert changes and all(e["how"] == "runtime" for e in changes)


def test_more_services_than_spare_backends_are_all_routed(
    haproxy: Balancer, backends: Callable[..., Backend], catalog: CatalogProcess
) -> None:
    # Past the free backends the pool doubles (one reload), and every route still serves.
    base = backends("grow-base", "grow-base-1")
    http = httpx.Client(base_url=f"http://{catalog.http_addr}", timeout=10)
    names = [f"grow-{i}" for i in range(MIN_BACKENDS + 1)]
    reloads = _worker_starts(haproxy)
    try:
        for name in names:
            registration = {
                "Name": name, "ID": name, "Address": "127.0.0.1", "Port": base.port,
                "Meta": {"route_path": f"/{name}", "route_strip_prefix": "false"},
            }  # fmt: skip
            http.put("/v1/agent/service/register", json=registration).raise_for_status()
        for name in names:
            wait_for(
                f"/{name} served", lambda n=name: haproxy.served_by(f"/{n}", 2) == {base.ident}
            )
        assert _worker_starts(haproxy) > reloads  # the pool grew
    finally:
        for name in names:
            http.put(f"/v1/agent/service/deregister/{name}")
