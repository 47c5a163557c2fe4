"""The collector's pure parts: lifecycle events from instance changes, HAProxy's stats
CSV, ZooKeeper's mntr, the stack file's scrape and host_logs."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from leapfrog.components._lb_metrics import haproxy_samples
from leapfrog.components.zookeeper import mntr_samples
from leapfrog.runtime.local.instance import InstanceState
from leapfrog.runtime.local.lifecycle_events import LifecycleEvents
from leapfrog.spec import SpecError, parse_stack


def _instance(state: InstanceState, pid: int | None, **kw: Any) -> Any:
    values = {"name": "web-1", "detail": "", "restarts": 0, "exit_code": None, "failure": None}
    values.update(kw)
    return SimpleNamespace(state=state, pid=pid, **values)


def test_a_crash_gives_exited_with_its_signal_restarting_then_started() -> None:
    events = LifecycleEvents()
    assert [e["event"] for e in events.events(_instance(InstanceState.STARTING, 10))] == ["started"]
    healthy = events.events(_instance(InstanceState.HEALTHY, 10))
    assert [(e["event"], e["from"]) for e in healthy] == [("health", "starting")]
    crashed = events.events(
        _instance(
            InstanceState.STARTING,
            None,
            exit_code=-9,
            restarts=1,
            detail="killed by SIGKILL; restarting in 500ms",
        )
    )
    assert [e["event"] for e in crashed] == ["exited", "restarting"]
    assert crashed[0]["signal"] == "SIGKILL" and crashed[0]["level"] == "error"
    assert crashed[0]["pid"] == 10
    again = events.events(_instance(InstanceState.STARTING, 11, restarts=1, detail="started"))
    assert [e["event"] for e in again] == ["started"]


def test_crashloop_and_a_clean_stop() -> None:
    events = LifecycleEvents()
    events.events(_instance(InstanceState.STARTING, 10))
    loop = events.events(
        _instance(InstanceState.CRASHLOOP, None, exit_code=1, restarts=5, failure="crash loop")
    )
    assert [e["event"] for e in loop] == ["exited", "crashloop"]
    assert loop[1]["failure"] == "crash loop"
    events.events(_instance(InstanceState.STARTING, 12, restarts=5))
    stop = events.events(_instance(InstanceState.STOPPED, None, exit_code=-15, detail="stopped"))
    assert [(e["event"], e["level"]) for e in stop] == [("exited", "info"), ("stopped", "info")]


CSV = (
    "# pxname,svname,qcur,qmax,scur,stot,ereq,econ,eresp,status,rate,type,qtime,rtime,hrsp_5xx\n"
    "http,FRONTEND,,,2,10,1,,,OPEN,3,0,,,\n"
    "web,s1,0,0,1,5,,0,0,UP,1,2,0,12,0\n"
    "web,BACKEND,0,0,1,5,,0,0,UP,1,1,0,12,2\n"
    "stats,FRONTEND,,,0,0,0,,,OPEN,0,0,,,\n"
)


def test_haproxy_stats_rows() -> None:
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in haproxy_samples(CSV)}
    assert samples[("haproxy_frontend_request_errors_total", (("proxy", "http"),))] == 1
    assert samples[("haproxy_server_response_time_ms", (("proxy", "web"), ("server", "s1")))] == 12
    assert samples[("haproxy_server_up", (("proxy", "web"), ("server", "s1")))] == 1
    assert samples[("haproxy_backend_responses_5xx_total", (("proxy", "web"),))] == 2
    assert not any(dict(labels).get("proxy") == "stats" for _, labels in samples)


def test_mntr_numbers_and_state() -> None:
    answer = "zk_version\t3.9.5\nzk_avg_latency\t0.5\nzk_server_state\tstandalone\n"
    samples = {(s.name, tuple(s.labels.items())): s.value for s in mntr_samples(answer)}
    assert samples == {
        ("zookeeper_avg_latency", ()): 0.5,
        ("zookeeper_server_state", (("state", "standalone"),)): 1.0,
    }


def test_scrape_shorthand_and_host_logs(tmp_path: Any) -> None:
    text = "services:\n  web: {command: x, port: 80, scrape: /prom}\nhost_logs: {kmsg: true}\n"
    spec = parse_stack(text, "leapfrog.yaml", tmp_path).spec
    scrape = spec.services["web"].scrape
    assert scrape is not None and scrape.path == "/prom" and scrape.interval == 15
    assert spec.host_logs.kmsg and not spec.host_logs.journal
    with pytest.raises(SpecError, match="scrape needs `port:`"):
        parse_stack("services:\n  web: {command: x, scrape: true}\n", "leapfrog.yaml", tmp_path)
