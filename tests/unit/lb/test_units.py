"""Quiescence, slots, routes, config diffs and access-log lines: leapfrog's own logic."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from leapfrog.lb import (
    ServiceInstance,
    SlotTable,
    Wait,
    parse_access_line,
    parse_job,
    parse_wait,
    quiesce,
    route_of,
    run_templates,
    runtime_commands,
    sort_routes,
)
from leapfrog.lb._haproxy import worker_pids
from leapfrog.shared.errors import LeapfrogError


def test_parse_wait() -> None:
    assert parse_wait("50ms:250ms") == Wait(0.05, 0.25)
    assert parse_wait("1s") == Wait(1.0, 4.0)
    with pytest.raises(ValueError, match="shorter than the min"):
        parse_wait("2s:1s")
    with pytest.raises(ValueError, match="MIN:MAX"):
        parse_wait("soon")


def test_quiesce_returns_once_quiet() -> None:
    async def scenario() -> int:
        changed = asyncio.Event()
        pokes = 0

        async def poke() -> None:
            nonlocal pokes
            for _ in range(3):
                await asyncio.sleep(0.005)
                pokes += 1
                changed.set()

        task = asyncio.create_task(poke())
        await quiesce(changed, Wait(0.05, 5.0))
        await task
        return pokes

    # Every change within MIN restarted the wait, so all three were absorbed.
    assert asyncio.run(scenario()) == 3


def test_quiesce_gives_up_at_max_under_constant_change() -> None:
    async def scenario() -> bool:
        changed = asyncio.Event()

        async def storm() -> None:
            while True:
                await asyncio.sleep(0.002)
                changed.set()

        task = asyncio.create_task(storm())
        await asyncio.wait_for(quiesce(changed, Wait(0.05, 0.1)), timeout=10)
        task.cancel()
        return True

    assert asyncio.run(scenario())


def test_slots_are_stable() -> None:
    table = SlotTable(2)
    assert table.assign("b", ["a", "b"]) == ["a", "b"]
    assert table.assign("b", ["b"]) == [None, "b"]
    assert table.assign("b", ["b", "c"]) == ["c", "b"]
    assert table.assign("b", ["a", "b", "c"]) == ["c", "b", "a", None]
    assert table.assign("b", []) == [None] * 4  # never shrinks: a free slot costs nothing


def inst(port: int, **meta: str) -> ServiceInstance:
    return ServiceInstance(f"x-{port}", "x", "127.0.0.1", port, meta=meta)


def test_routes_most_specific_first() -> None:
    routes = [
        route_of("root", [inst(1, route_path="/")]),
        route_of("api", [inst(2, route_path="/api")]),
        route_of("apiv2", [inst(3, route_path="/api/v2")]),
        route_of("host", [inst(4, route_host="h.localhost")]),
        route_of("both", [inst(5, route_host="h.localhost", route_path="/x")]),
        route_of("plain", [inst(6)]),
    ]
    order = [r.name for r in sort_routes(routes)]
    assert order == ["both", "host", "plain", "apiv2", "api", "root"]
    assert routes[5].host == "plain.service.localhost"
    assert routes[0].catch_all


CFG = """global
    stats socket /x level admin
backend web
    balance roundrobin
    server s1 127.0.0.1:9001 check
    server s2 127.0.0.1:1 check disabled
"""


def test_membership_changes_are_runtime_commands() -> None:
    moved = CFG.replace("127.0.0.1:1 check disabled", "127.0.0.2:9002 check")
    assert runtime_commands(CFG, moved) == [
        "set server web/s2 addr 127.0.0.2 port 9002",
        "set server web/s2 state ready",
    ]
    gone = CFG.replace("127.0.0.1:9001 check", "127.0.0.1:1 check disabled")
    assert runtime_commands(CFG, gone) == [
        "set server web/s1 state maint",
        "set server web/s1 addr 127.0.0.1 port 1",
    ]
    assert runtime_commands(CFG, CFG) == []


def test_idle_slots_are_filled_before_a_live_slot_moves() -> None:
    # s1 (live) takes another instance while s2 (idle) takes s1's: s2 first, or the
    # backend has no server between s1's maint and its ready.
    swapped = CFG.replace("127.0.0.1:9001 check", "127.0.0.3:9003 check").replace(
        "127.0.0.1:1 check disabled", "127.0.0.1:9001 check"
    )
    assert runtime_commands(CFG, swapped) == [
        "set server web/s2 addr 127.0.0.1 port 9001",
        "set server web/s2 state ready",
        "set server web/s1 state maint",
        "set server web/s1 addr 127.0.0.3 port 9003",
        "set server web/s1 state ready",
    ]


def test_other_changes_need_a_reload() -> None:
    assert runtime_commands(CFG, CFG.replace("roundrobin", "leastconn")) is None
    more = CFG + "    server s3 127.0.0.1:1 check disabled\n"
    assert runtime_commands(CFG, more) is None
    named = CFG.replace("127.0.0.1:9001", "web.local:9001")
    assert runtime_commands(CFG, named) is None


def test_access_lines() -> None:
    haproxy = parse_access_line("lf1|127.0.0.9|200|12|3|be3|web|s1|0|--|GET|/a?b=|c")
    assert haproxy is not None
    assert haproxy["status"] == 200 and haproxy["path"] == "/a?b=|c"
    # The pool backend's service names it; without one (your own template), the backend.
    assert haproxy["backend"] == "web" and haproxy["message"] == "GET /a?b=|c 200"
    assert "service" not in haproxy
    own = parse_access_line("lf1|127.0.0.9|200|12|3|web|-|s1|0|--|GET|/")
    assert own is not None and own["backend"] == "web"
    nginx = parse_access_line(
        '<190>Nov 25 17:00:00 lb: {"client":"127.0.0.1","method":"GET","path":"/h",'
        '"status":503,"bytes":0,"duration_ms":0.002,"backend":"h","server":"-"}'
    )
    assert nginx is not None
    assert nginx["status"] == 503 and nginx["duration_ms"] == 2.0
    assert parse_access_line("garbage") is None


def test_worker_pids_from_show_proc() -> None:
    answer = (
        "#<PID>          <type>          <reloads>       <uptime>        <version>\n"
        "100             master          1 [failed: 0]   0d00h00m08s     2.6.12\n"
        "# workers\n"
        "120             worker          0               0d00h00m02s     2.6.12\n"
        "# old workers\n"
        "110             worker          1               0d00h00m08s     2.6.12\n"
    )
    assert worker_pids(answer) == {120}


def test_a_route_claimed_twice_is_served_once() -> None:
    from leapfrog.lb._routes import unique_routes

    routes = sort_routes(
        [route_of("b", [inst(1, route_path="/x")]), route_of("a", [inst(2, route_path="/x")])]
    )
    assert [r.name for r in unique_routes(routes)] == ["a"]


def test_template_specs(tmp_path: Path) -> None:
    source = tmp_path / "in.tmpl"
    source.write_text("x")
    job = parse_job(f"{source}:{tmp_path / 'out'}:nginx -s reload -g 'a:b'")
    assert job.dest == tmp_path / "out" and job.command == "nginx -s reload -g 'a:b'"
    assert parse_job(f"{source}:out").command is None
    with pytest.raises(LeapfrogError, match="not a template spec"):
        parse_job(str(source))


def test_once_gives_up_on_an_unreachable_catalog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import leapfrog.lb._templates_run as templates_run

    monkeypatch.setattr(templates_run, "ONCE_TIMEOUT", 0.5)
    source = tmp_path / "in.tmpl"
    source.write_text("{{ services() | length }}")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    jobs = [parse_job(f"{source}:{tmp_path / 'out'}")]
    with pytest.raises(LeapfrogError, match="did not answer within"):
        asyncio.run(run_templates(jobs, Wait(0, 0), once=True, addr=f"127.0.0.1:{closed}"))


@pytest.mark.parametrize(
    "line",
    [
        "lf1|127.0.0.9|200|12|3|be1|web|s1|0|--|GET|/a?b=|c",
        'lf1|127.0.0.9|503||-1|no_route|-|<NOSRV>|0|SC|POST|/q"u\\ote/é',
        "lf1|::1|200|0|0|web|-|s2|1|--|HEAD|/",
    ],
)
def test_the_fast_access_path_writes_the_same_event(line: str) -> None:
    import io
    import json

    from leapfrog.lb._events import EventSink

    out = io.StringIO()
    sink = EventSink("lb-1", None, stream=out)
    assert sink.access_text(line)
    event = parse_access_line(line)
    assert event is not None
    sink(event)
    fast, slow = (json.loads(text) for text in out.getvalue().splitlines())
    fast.pop("ts")
    slow.pop("ts")
    assert list(fast.items()) == list(slow.items())
    assert not sink.access_text('<190>nginx: {"status": 200}')
