"""The served backends follow the catalog, with real HAProxy and real nginx."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from leapfrog.testing import CatalogProcess

from .conftest import Backend, Balancer, breakable_template, wait_for


def test_instances_registered_failing_and_deregistered(
    balancer: Balancer, backends: Callable[..., Backend], catalog: CatalogProcess
) -> None:
    name = f"follow-{balancer.engine}"
    path = f"/{name}"
    a = backends(name, f"{name}-a", path)
    b = backends(name, f"{name}-b", path)
    wait_for("both instances served", lambda: balancer.served_by(path) == {a.ident, b.ident})

    b.fail_check()  # the catalog's HTTP check now fails
    wait_for("the failing one dropped", lambda: balancer.served_by(path) == {a.ident})

    c = backends(name, f"{name}-c", path)
    wait_for("the new one served", lambda: balancer.served_by(path) == {a.ident, c.ident})

    a.signal(signal.SIGTERM)  # deregisters, then drains
    wait_for("the deregistered one gone", lambda: balancer.served_by(path) == {c.ident})

    c.signal(signal.SIGTERM)
    # None passes now: b, still registered (critical, not in maintenance) and answering,
    # is served rather than nobody (panic routing: a check timing out under load must
    # not empty a backend).
    wait_for(
        "the failing one served when none passes", lambda: balancer.served_by(path) == {b.ident}
    )

    # b put in maintenance (leaving) is never chosen: nobody is left to serve, an empty
    # backend (503, nginx 502), not a crash and not the 404 of an unknown route.
    maintenance = f"http://{catalog.http_addr}/v1/agent/service/maintenance/{b.ident}"
    assert httpx.put(maintenance, params={"enable": "true"}).status_code == 200
    wait_for("an empty backend", lambda: balancer.http.get(path).status_code in (502, 503))
    assert balancer.proc.poll() is None

    b.signal(signal.SIGTERM)  # its last registration gone: the route goes with it
    wait_for("the route gone", lambda: balancer.http.get(path).status_code == 404)
    assert balancer.http.get("/no-such-route").status_code == 404


def test_unrouted_service_reachable_by_host(
    balancer: Balancer, backends: Callable[..., Backend]
) -> None:
    name = f"plain-{balancer.engine}"
    backends(name, f"{name}-1")
    host = {"Host": f"{name}.service.localhost"}
    wait_for(
        "host route", lambda: balancer.http.get("/x", headers=host).text.strip() == f"{name}-1"
    )


def test_haproxy_changes_membership_without_reload(
    haproxy: Balancer, backends: Callable[..., Backend]
) -> None:
    name = "runtime-api"
    first = backends(name, f"{name}-1", f"/{name}")
    wait_for("served", lambda: haproxy.served_by(f"/{name}") == {first.ident})
    before = len(haproxy.kinds("lb.applied"))
    second = backends(name, f"{name}-2", f"/{name}")
    wait_for("both", lambda: haproxy.served_by(f"/{name}") == {first.ident, second.ident})
    applied = haproxy.kinds("lb.applied")[before:]
    assert applied and all(event["how"] == "runtime" for event in applied)


def test_access_logs_are_events(balancer: Balancer, backends: Callable[..., Backend]) -> None:
    name = f"logged-{balancer.engine}"
    backends(name, f"{name}-1", f"/{name}")
    wait_for("served", lambda: balancer.served_by(f"/{name}", 1))
    balancer.http.get(f"/{name}/x?y=1")

    def logged() -> bool:
        return any(e.get("path") == f"/{name}/x?y=1" for e in balancer.kinds("access"))

    wait_for("the access event", logged, timeout=5)
    event = next(e for e in balancer.kinds("access") if e.get("path") == f"/{name}/x?y=1")
    assert event["status"] == 200 and event["method"] == "GET" and event["backend"] == name


def test_invalid_config_keeps_the_last_good_one(
    catalog: CatalogProcess, lb_dir: Path, backends: Callable[..., Backend]
) -> None:
    kv = f"http://{catalog.http_addr}/v1/kv/lbtest/break"
    for engine in ("haproxy", "nginx"):
        where = lb_dir / f"breakable-{engine}"
        where.mkdir()
        lb = Balancer(engine, catalog.http_addr, where, breakable_template(engine, lb_dir))
        try:
            name = f"steady-{engine}"
            one = backends(name, f"{name}-1", f"/{name}")
            # A new `leapfrog lb run` and its engine start first: with the other test
            # sessions beside this one, that alone once took longer than the usual 20 s.
            wait_for("served", lambda: lb.served_by(f"/{name}") == {one.ident}, timeout=60)  # noqa: B023
            httpx.put(kv, content=b"yes")
            wait_for("the rejection", lambda: lb.kinds("lb.invalid_config"), timeout=10)  # noqa: B023
            assert "keeps serving" in lb.kinds("lb.invalid_config")[0]["message"]
            time.sleep(0.3)
            assert lb.served_by(f"/{name}") == {one.ident}  # the old configuration serves
            assert lb.proc.poll() is None
            httpx.delete(kv)
            two = backends(name, f"{name}-2", f"/{name}")
            wait_for(
                "valid again",
                lambda: lb.served_by(f"/{name}") == {one.ident, two.ident},  # noqa: B023
            )
        finally:
            httpx.delete(kv)
            lb.stop()
