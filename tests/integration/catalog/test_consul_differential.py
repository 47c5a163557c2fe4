"""The differential tier: the same registrations made on leapfrog's catalog and on a real
Consul 1.20 agent in dev mode (built from Go modules by scripts/consul-tools.sh), then the
same reads of both compared: JSON (after blanking what differs by nature: indexes, IDs,
check output), the X-Consul-* headers and DNS. Every difference must be a known one,
listed below with its reason; any other fails the test."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from typing import Any

import dns.message
import dns.query
import dns.rdatatype
import httpx
import pytest

from leapfrog.service import ServiceSettings, service_definition
from leapfrog.testing import CatalogProcess, consul_tool, end_process, free_port, wait_until

pytestmark = pytest.mark.timeout(300)

NODE = "difftest"
VOLATILE = {
    "CreateIndex", "ModifyIndex", "Output", "ContentHash", "CollectionTime", "LTime",
    "Hash", "SHA", "BuildDate",
}  # fmt: skip
"""Keys whose values differ by nature between two agents (and IDs that are UUIDs)."""

KNOWN = {
    # Consul's servers register themselves as the service `consul` in the catalog; the
    # catalog answers it in DNS only (docs/catalog.md).
    "/v1/catalog/services: consul: only in consul",
    "/v1/catalog/node/difftest: Services.consul: only in consul",
    # Consul sends its first network coordinate some seconds after start; the catalog
    # has its node's from the start.
    "/v1/coordinate/nodes: : leapfrog [{'Node': 'difftest', 'Segment': '', 'Coord': "
    "{'Vec': [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], 'Error': 1.5, 'Adjustment': 0.0, "
    "'Height': 1e-05}}] != consul []",
    # Consul's streaming backend (health/service with ?index) leaves KnownLeader false;
    # the catalog is always its own leader and says so.
    "/v1/health/service/web?index=1: header x-consul-knownleader: "
    "leapfrog 'true' != consul 'false'",
}
"""Differences accepted, each `path: where: what`; documented in docs/catalog.md."""


class Agent:
    def __init__(self, name: str, http_port: int, dns_port: int) -> None:
        self.name = name
        self.dns_port = dns_port
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{http_port}", timeout=30)

    def put(self, path: str, body: Any = None) -> None:
        response = self.http.put(path, json=body)
        assert response.status_code == 200, f"{self.name} {path}: {response.text}"


@pytest.fixture(scope="module")
def consul(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    base = tmp_path_factory.mktemp("consul-dev")
    ports = {p: free_port() for p in ("http", "dns", "server", "serf_lan", "serf_wan", "grpc")}
    hcl = "ports { " + " ".join(f"{k} = {v}" for k, v in ports.items()) + " grpc_tls = -1 }"
    log = open(base / "consul.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            str(consul_tool("consul")), "agent", "-dev", "-node", NODE, "-datacenter", "dc1",
            "-bind", "127.0.0.1", "-client", "127.0.0.1", "-hcl", hcl, "-log-level", "warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    agent = Agent("consul", ports["http"], ports["dns"])
    try:
        wait_until(lambda: _ready(agent), timeout=120, what=f"consul dev agent ({base})")
        yield agent
    finally:
        agent.http.close()
        end_process(proc)
        log.close()


def _ready(agent: Agent) -> bool:
    try:
        nodes = agent.http.get("/v1/catalog/nodes").json()
    except (httpx.HTTPError, ValueError):
        return False
    return bool(agent.http.get("/v1/status/leader").json()) and [n["Node"] for n in nodes] == [NODE]


@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    base = tmp_path_factory.mktemp("catalog-diff")
    with CatalogProcess(base / "data", node=NODE) as proc:
        agent = Agent("leapfrog", proc.port, proc.dns_port)
        yield agent
        agent.http.close()


def _statuses(agent: Agent, service: str, check_id: str) -> list[str]:
    checks = agent.http.get(f"/v1/health/checks/{service}").json()
    return [c["Status"] for c in checks if c["CheckID"] == check_id]


def _register(agent: Agent, health_port: int, tcp_port: int) -> None:
    def sdk(name: str, instance: str, check: str, port: int, **extra: Any) -> None:
        settings = ServiceSettings(name=name, instance=instance, check=check, port=port, **extra)  # type: ignore[arg-type]
        agent.put("/v1/agent/service/register", service_definition(settings))

    sdk("web", "web-1", "http", health_port, tags=("v1", "blue"))
    sdk("db", "db-1", "tcp", tcp_port)
    sdk("reader", "reader-1", "ttl", 9100, ttl=30.0)
    agent.put("/v1/agent/check/update/service:reader-1", {"Status": "passing", "Output": "ok"})
    agent.put(
        "/v1/agent/check/register",
        {"ID": "reader-extra", "Name": "reader-extra", "ServiceID": "reader-1", "TTL": "45s"},
    )
    agent.put("/v1/agent/check/pass/reader-extra")
    agent.put("/v1/agent/service/maintenance/db-1?enable=true&reason=differential")
    for key, value in (("app/a", b"1"), ("app/b/c", b"2")):
        response = agent.http.put(f"/v1/kv/{key}?flags=7", content=value)
        assert response.json() is True
    assert agent.http.put("/v1/event/fire/deploy", content=b"v1").is_success
    session = agent.http.put("/v1/session/create", json={"Name": "leader", "TTL": "60s"}).json()
    assert agent.http.put(f"/v1/kv/app/lock?acquire={session['ID']}", content=b"me").json()
    wait_until(
        lambda: (
            len(agent.http.get("/v1/health/service/web?passing").json()) == 1
            and "passing" in _statuses(agent, "db", "service:db-1")
        ),
        timeout=60,
        what=f"{agent.name}: checks passing",
    )


READS = (
    "/v1/health/service/web",
    "/v1/health/service/reader",
    "/v1/health/checks/reader",
    "/v1/health/node/" + NODE,
    "/v1/health/state/passing",
    "/v1/health/connect/web",
    "/v1/agent/checks",
    "/v1/agent/services",
    "/v1/agent/service/web-1",
    "/v1/agent/health/service/name/reader",
    "/v1/catalog/services",
    "/v1/catalog/service/web",
    "/v1/catalog/nodes",
    "/v1/catalog/node/" + NODE,
    "/v1/coordinate/nodes",
    "/v1/event/list",
    "/v1/event/list?name=deploy",
    "/v1/query",
    "/v1/health/checks/db",
    "/v1/health/state/critical",
    "/v1/health/service/web?passing",
    "/v1/health/service/web?index=1",
    "/v1/health/service/nothing",
    "/v1/catalog/service/web?tag=v1",
    "/v1/agent/health/service/id/web-1",
    "/v1/agent/health/service/id/nothing",
    "/v1/kv/app/a",
    "/v1/kv/app/?recurse",
    "/v1/kv/app/?keys&separator=/",
    "/v1/kv/app/lock",
    "/v1/session/list",
    "/v1/session/node/" + NODE,
)


_IDENTITY = ("CheckID", "ServiceID", "ID", "Node", "Name")


def _identity(item: Any) -> str:
    """What a list item is sorted by: Consul's order of checks and nodes is its own."""
    if isinstance(item, dict):
        for key in _IDENTITY:
            if key in item:
                return repr(item[key])
    return repr(item)


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _blank(key: str, value: Any) -> bool:
    uuid = isinstance(value, str) and bool(_UUID.fullmatch(value))
    return key in VOLATILE or (key in ("ID", "Session") and uuid)


def _normal(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "<v>" if _blank(k, v) else _normal(v) for k, v in value.items()}
    if isinstance(value, list):
        return sorted((_normal(v) for v in value), key=_identity)
    return value


def _diff(path: str, ours: Any, theirs: Any, out: list[str]) -> None:
    if isinstance(ours, dict) and isinstance(theirs, dict):
        for key in sorted(set(ours) | set(theirs)):
            where = f"{path}.{key}"
            if key not in ours:
                out.append(f"{where}: only in consul")
            elif key not in theirs:
                out.append(f"{where}: only in leapfrog")
            else:
                _diff(where, ours[key], theirs[key], out)
    elif isinstance(ours, list) and isinstance(theirs, list) and len(ours) == len(theirs):
        for a, b in zip(ours, theirs, strict=True):
            _diff(f"{path}[]", a, b, out)
    elif ours != theirs:
        out.append(f"{path}: leapfrog {ours!r} != consul {theirs!r}")


@pytest.fixture(scope="module")
def pair(ours: Agent, consul: Agent, health_port: int, tcp_peer: int) -> tuple[Agent, Agent]:
    """Both agents with the same registrations."""
    for agent in (ours, consul):
        _register(agent, health_port, tcp_peer)
    return ours, consul


def test_same_reads_answer_the_same(pair: tuple[Agent, Agent]) -> None:
    ours, consul = pair
    found: list[str] = []
    for path in READS:
        a, b = ours.http.get(path), consul.http.get(path)
        assert a.status_code == b.status_code, path
        differences: list[str] = []
        _diff("", _normal(a.json()), _normal(b.json()), differences)
        found += [f"{path}: {d.lstrip('.')}" for d in differences]
        found += _header_differences(path, a.headers, b.headers)
    missing = ours.http.get("/v1/kv/nothing-here"), consul.http.get("/v1/kv/nothing-here")
    assert [r.status_code for r in missing] == [404, 404]
    found += _header_differences("/v1/kv/nothing-here", missing[0].headers, missing[1].headers)
    unexplained = sorted(set(found) - KNOWN)
    assert not unexplained, "\n".join(unexplained)


_SAME_EVERYWHERE = {"x-consul-index", "x-consul-lastcontact", "x-consul-contenthash"}


def _header_differences(path: str, ours: httpx.Headers, theirs: httpx.Headers) -> list[str]:
    def consul_headers(headers: httpx.Headers) -> dict[str, str]:
        return {
            k.lower(): v
            for k, v in headers.items()
            if k.lower().startswith("x-consul-") and k.lower() not in _SAME_EVERYWHERE
        }

    a, b = consul_headers(ours), consul_headers(theirs)
    return [
        f"{path}: header {k}: leapfrog {a.get(k)!r} != consul {b.get(k)!r}"
        for k in sorted(set(a) | set(b))
        if a.get(k) != b.get(k)
    ]


def _dns(agent: Agent, name: str, rdtype: str) -> list[str]:
    reply = dns.query.udp(dns.message.make_query(name, rdtype), "127.0.0.1", port=agent.dns_port)
    sections = (reply.answer, reply.authority, reply.additional)
    records = sorted(
        f"{rrset.name} {rrset.rdtype} {rd.to_text()}"
        for section in sections
        for rrset in section
        for rd in rrset
        if rrset.rdtype != dns.rdatatype.SOA  # its serial is the time
    )
    return [*records, str(reply.rcode())]


@pytest.mark.parametrize(
    ("name", "rdtype"),
    [
        ("web.service.consul", "SRV"),
        ("reader.service.consul", "A"),
        ("web.service.consul", "TXT"),
        (f"{NODE}.node.consul", "TXT"),
        ("consul.service.consul", "A"),
        ("nothing.service.consul", "A"),
    ],
)
def test_same_dns_answers(pair: tuple[Agent, Agent], name: str, rdtype: str) -> None:
    ours, consul = pair
    assert _dns(ours, name, rdtype) == _dns(consul, name, rdtype)


def test_soa_names_the_same_primary(pair: tuple[Agent, Agent]) -> None:
    ours, consul = pair

    def soa(agent: Agent) -> list[str]:
        reply = dns.query.udp(
            dns.message.make_query("nothing.service.consul", "A"), "127.0.0.1", port=agent.dns_port
        )
        (rrset,) = reply.authority
        return [rrset[0].mname.to_text(), rrset[0].rname.to_text()]

    assert soa(ours) == soa(consul)
