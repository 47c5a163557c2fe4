"""The real `py-consul` client against `leapfrog catalog serve`: the checklist, end to end."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import consul
import dns.message
import dns.query
import dns.rcode
import pytest
from consul.exceptions import BadRequest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def wait_health(
    c: consul.Consul, name: str, ready: Callable[[list[dict[str, Any]]], bool], timeout: float = 10
) -> list[dict[str, Any]]:
    """Follow /v1/health/service/<name> with blocking queries until `ready` holds."""
    deadline = time.monotonic() + timeout
    index, nodes = c.health.service(name)
    while not ready(nodes):
        assert time.monotonic() < deadline, f"{name} never got ready: {nodes}"
        index, nodes = c.health.service(name, index=index, wait="2s")
    return nodes


def statuses(nodes: list[dict[str, Any]]) -> dict[str, str]:
    return {c["CheckID"]: c["Status"] for n in nodes for c in n["Checks"]}


def test_agent_self_and_status(c: consul.Consul) -> None:
    me = c.agent.self()
    assert all(isinstance(v, dict) for v in me.values())
    assert me["Config"]["Datacenter"] == "dc1"
    assert me["Config"]["NodeName"] == "itest"
    assert c.status.leader() == "127.0.0.1:8300"
    assert c.status.peers() == ["127.0.0.1:8300"]


def test_http_check_turns_passing_with_consuls_output(c: consul.Consul, http_peer: str) -> None:
    check = consul.Check.http(f"{http_peer}/health", "1s", timeout="2s")
    assert c.agent.service.register("httpsvc", service_id="httpsvc1", port=1, check=check)
    nodes = wait_health(c, "httpsvc", lambda n: statuses(n).get("service:httpsvc1") == "passing")
    (mine,) = [ch for ch in nodes[0]["Checks"] if ch["CheckID"] == "service:httpsvc1"]
    assert mine["Output"].startswith(f"HTTP GET {http_peer}/health: 200")
    assert "Consul Health Check" in mine["Output"]
    assert next(ch["CheckID"] for ch in nodes[0]["Checks"]) == "serfHealth"


def test_http_429_is_warning_and_passing_filter_drops_it(c: consul.Consul, http_peer: str) -> None:
    check = consul.Check.http(f"{http_peer}/busy", "1s")
    c.agent.service.register("busysvc", service_id="busy1", check=check)
    wait_health(c, "busysvc", lambda n: statuses(n).get("service:busy1") == "warning")
    assert c.health.service("busysvc", passing=True)[1] == []


def test_tcp_check(c: consul.Consul, tcp_peer: int) -> None:
    check = consul.Check.tcp("127.0.0.1", tcp_peer, "1s")
    c.agent.service.register("tcpsvc", service_id="tcp1", check=check)
    nodes = wait_health(c, "tcpsvc", lambda n: statuses(n).get("service:tcp1") == "passing")
    output = next(ch["Output"] for ch in nodes[0]["Checks"] if ch["CheckID"] == "service:tcp1")
    assert output == f"TCP connect 127.0.0.1:{tcp_peer}: Success"


def test_ttl_pass_warn_fail(c: consul.Consul) -> None:
    c.agent.service.register("ttlsvc", service_id="ttl1", check=consul.Check.ttl("30s"))
    assert c.agent.checks()["service:ttl1"]["Status"] == "critical"
    for call, status in (
        (c.agent.check.ttl_pass, "passing"),
        (c.agent.check.ttl_warn, "warning"),
        (c.agent.check.ttl_fail, "critical"),
    ):
        assert call("service:ttl1", f"now {status}")
        check = c.agent.checks()["service:ttl1"]
        assert (check["Status"], check["Output"]) == (status, f"now {status}")
    with pytest.raises(consul.ConsulException, match='CheckID "nope" does not have associated TTL'):
        c.agent.check.ttl_pass("nope")


def test_ttl_expiry_turns_critical(c: consul.Consul) -> None:
    c.agent.service.register("shortttl", service_id="short1", check=consul.Check.ttl("1s"))
    c.agent.check.ttl_pass("service:short1")
    nodes = wait_health(c, "shortttl", lambda n: statuses(n).get("service:short1") == "critical")
    output = next(ch["Output"] for ch in nodes[0]["Checks"] if ch["CheckID"] == "service:short1")
    assert output == "TTL expired"


def test_health_passing_and_tags(c: consul.Consul) -> None:
    for sid, tags in (("tag1", ["blue", "v1"]), ("tag2", ["green", "v1"])):
        c.agent.service.register("tagsvc", service_id=sid, tags=tags, check=consul.Check.ttl("60s"))
    c.agent.check.ttl_pass("service:tag1")
    _, passing = c.health.service("tagsvc", passing=True)
    assert [n["Service"]["ID"] for n in passing] == ["tag1"]
    _, green = c.health.service("tagsvc", tag="green")
    assert [n["Service"]["ID"] for n in green] == ["tag2"]
    _, services = c.catalog.services()
    assert sorted(services["tagsvc"]) == ["blue", "green", "v1"]
    _, flat = c.catalog.service("TAGSVC", tag="blue")
    assert [(e["ServiceID"], e["ServiceName"]) for e in flat] == [("tag1", "tagsvc")]


def test_kv_round_trips_with_cas(c: consul.Consul) -> None:
    assert c.kv.put("it/a", "one", flags=5)
    _index, entry = c.kv.get("it/a")
    assert entry["Value"] == b"one" and entry["Flags"] == 5
    assert not c.kv.put("it/a", "two", cas=0)
    assert not c.kv.put("it/a", "two", cas=entry["ModifyIndex"] + 100)
    assert c.kv.put("it/a", "two", cas=entry["ModifyIndex"])
    assert c.kv.put("it/b/c", "three")
    _, keys = c.kv.get("it/", keys=True, separator="/")
    assert keys == ["it/a", "it/b/"]
    _, everything = c.kv.get("it/", recurse=True)
    assert [e["Key"] for e in everything] == ["it/a", "it/b/c"]
    assert c.kv.delete("it/", recurse=True)
    assert c.kv.get("it/a")[1] is None


def test_blocking_wakes_on_its_change_only_and_times_out(c: consul.Consul) -> None:
    c.agent.service.register("watched", service_id="w1")
    index, _ = c.health.service("watched")
    result: list[tuple[str, Any]] = []
    thread = threading.Thread(
        target=lambda: result.append(c.health.service("watched", index=index, wait="10s"))
    )
    thread.start()
    time.sleep(0.2)
    c.agent.service.register("unrelated", service_id="u1")
    c.kv.put("unrelated", "x")
    time.sleep(0.3)
    assert thread.is_alive(), "an unrelated change woke the watcher"
    started = time.monotonic()
    c.agent.service.register("watched", service_id="w1", tags=["changed"])
    thread.join(5)
    assert time.monotonic() - started < 2
    new_index, nodes = result[0]
    assert int(new_index) > int(index)
    assert nodes[0]["Service"]["Tags"] == ["changed"]
    started = time.monotonic()
    same_index, _ = c.health.service("watched", index=new_index, wait="300ms")
    assert same_index == new_index
    assert time.monotonic() - started >= 0.3


def test_maintenance_service_and_node(c: consul.Consul) -> None:
    c.agent.service.register("maint", service_id="m1", check=consul.Check.ttl("60s"))
    c.agent.check.ttl_pass("service:m1")
    assert len(c.health.service("maint", passing=True)[1]) == 1
    assert c.agent.service.maintenance("m1", True, "upgrading")
    check = c.agent.checks()["_service_maintenance:m1"]
    assert (check["Status"], check["Name"], check["Notes"]) == (
        "critical",
        "Service Maintenance Mode",
        "upgrading",
    )
    assert c.health.service("maint", passing=True)[1] == []
    assert c.agent.service.maintenance("m1", False)
    assert len(c.health.service("maint", passing=True)[1]) == 1
    assert c.agent.maintenance(True)
    assert c.health.service("maint", passing=True)[1] == []
    assert "_node_maintenance" in c.agent.checks()
    assert c.agent.maintenance(False)
    assert len(c.health.service("maint", passing=True)[1]) == 1


def test_deregistration_wakes_watchers(c: consul.Consul) -> None:
    c.agent.service.register("gone", service_id="g1", check=consul.Check.ttl("60s"))
    index, _ = c.health.service("gone")
    result: list[tuple[str, Any]] = []
    thread = threading.Thread(
        target=lambda: result.append(c.health.service("gone", index=index, wait="10s"))
    )
    thread.start()
    time.sleep(0.1)
    assert c.agent.service.deregister("g1")
    thread.join(5)
    assert int(result[0][0]) > int(index) and result[0][1] == []
    assert "g1" not in c.agent.services()
    assert "service:g1" not in c.agent.checks()
    assert not c.agent.service.deregister("g1")


def test_check_register_and_deregister(c: consul.Consul) -> None:
    c.agent.service.register("chk", service_id="chk1")
    assert c.agent.check.register("extra", consul.Check.ttl("60s"), service_id="chk1")
    assert c.agent.checks()["extra"]["ServiceName"] == "chk"
    assert c.agent.check.deregister("extra")
    assert "extra" not in c.agent.checks()
    with pytest.raises(BadRequest, match="HTTP, TCP or TTL"):
        c.agent.check.register("bad", {"interval": "1s"})


def test_acl_403s(acl_proc: Any) -> None:
    anonymous = acl_proc.client()
    with pytest.raises(consul.ACLPermissionDenied, match="Permission denied"):
        anonymous.kv.put("k", "v")
    with pytest.raises(consul.ACLPermissionDenied, match="ACL not found"):
        acl_proc.client(token="wrong").agent.service.register("x")
    admin = acl_proc.client(token="management-secret")
    assert admin.agent.service.register("x", service_id="x1")
    assert admin.kv.put("k", "v")
    with pytest.raises(consul.ACLPermissionDenied, match="lacks permission 'key:read'"):
        anonymous.kv.get("k")  # default-deny: anonymous reads see nothing
    assert "x1" not in anonymous.agent.services()
    assert "x1" in admin.agent.services()


def test_dns_answers_from_the_registered_instances(catalog_proc: Any, c: consul.Consul) -> None:
    c.agent.service.register("dnssvc", service_id="dns1", address="127.0.0.9", port=9090)
    c.agent.service.register("dnssvc", service_id="dns2", port=9091, check=consul.Check.ttl("60s"))

    def ask(name: str, kind: str) -> dns.message.Message:
        query = dns.message.make_query(name, kind)
        return dns.query.udp(query, "127.0.0.1", port=catalog_proc.dns_port, timeout=5)

    answer = ask("dnssvc.service.consul", "A")
    assert {r.address for rrset in answer.answer for r in rrset} == {"127.0.0.9"}
    c.agent.check.ttl_pass("service:dns2")
    srv = ask("dnssvc.service.consul", "SRV")
    assert sorted(r.port for rrset in srv.answer for r in rrset) == [9090, 9091]
    assert ask("nothing.service.consul", "A").rcode() == dns.rcode.NXDOMAIN
