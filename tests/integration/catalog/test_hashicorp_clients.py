"""HashiCorp's own Consul clients against a real catalog process: `consulapi` (our program
on github.com/hashicorp/consul/api, tools/consulapi) and consul-template, both built from
Go modules by scripts/consul-tools.sh. Services carry HTTP, TCP and TTL checks registered
the way the SDK registers them, the way Go programs do (api.AgentServiceRegistration), by
/v1/agent/check/register and by /v1/catalog/register; every read the Go client makes of
them must decode."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import dns.rdatatype
import httpx
import pytest

from leapfrog.service import ServiceSettings, service_definition
from leapfrog.testing import CatalogProcess, consul_tool, wait_until

NODE = "gotest"


class Catalog:
    def __init__(self, proc: CatalogProcess, http: httpx.Client) -> None:
        self.proc = proc
        self.http = http

    def put(self, path: str, body: Any = None) -> None:
        response = self.http.put(path, json=body)
        assert response.status_code == 200, response.text

    def register_sdk(self, name: str, instance: str, check: str, port: int, **extra: Any) -> None:
        """PUT /v1/agent/service/register with the body leapfrog's SDK sends."""
        settings = ServiceSettings(name=name, instance=instance, check=check, port=port, **extra)  # type: ignore[arg-type]
        self.put("/v1/agent/service/register", service_definition(settings))

    def consulapi(self, *args: str, must_pass: bool = True) -> dict[str, Any]:
        done = subprocess.run(
            [str(consul_tool("consulapi")), "-addr", self.proc.http_addr, *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if must_pass:
            assert done.returncode == 0, done.stdout + done.stderr
        report: dict[str, Any] = json.loads(done.stdout)
        return report


@pytest.fixture(scope="module")
def catalog(
    tmp_path_factory: pytest.TempPathFactory, health_port: int, tcp_peer: int
) -> Iterator[Catalog]:
    base = tmp_path_factory.mktemp("hashicorp-clients")
    http_peer = f"http://127.0.0.1:{health_port}"
    with (
        CatalogProcess(base / "data", node=NODE) as proc,
        httpx.Client(base_url=f"http://{proc.http_addr}", timeout=30) as http,
    ):
        cat = Catalog(proc, http)
        # The SDK's three check kinds; its HTTP checks probe /health/ready on the instance.
        for n in (1, 2):
            cat.register_sdk("web", f"web-{n}", "http", health_port, tags=("v1", "blue", "api"))
        cat.register_sdk("db", "db-1", "tcp", tcp_peer, tags=("primary",))
        cat.register_sdk("reader", "reader-1", "ttl", 9100, ttl=30.0)
        cat.put("/v1/agent/check/update/service:reader-1", {"Status": "passing", "Output": "ok"})
        # The way Go programs register (api.AgentServiceRegistration), with an HTTP check.
        cat.consulapi(
            "register",
            "-name",
            "gosvc",
            "-port",
            "9200",
            "-http",
            f"{http_peer}/health",
            "-tag",
            "go",
        )
        # A check registered alone, then a catalog check with its own definition.
        cat.consulapi("check", "-id", "reader-extra", "-service-id", "reader-1", "-ttl", "45s")
        cat.put(
            "/v1/catalog/register",
            {
                "Node": NODE,
                "Address": "127.0.0.1",
                "NodeMeta": {"rack": "r1"},
                "Service": {"Service": "external", "ID": "external-1", "Port": 9300},
                "Check": {
                    "CheckID": "external-http",
                    "Name": "external http",
                    "ServiceID": "external-1",
                    "Status": "passing",
                    "Type": "http",
                    "Interval": "15s",
                    "Definition": {
                        "HTTP": "http://127.0.0.1:9300/health",
                        "Interval": "15s",
                        "Timeout": "5s",
                        "DeregisterCriticalServiceAfter": "90m",
                    },
                },
            },
        )
        wait_until(
            lambda: _passing(http, "web") == 2 and _passing(http, "db") == 1,
            timeout=60,
            what="the HTTP and TCP checks to pass",
        )
        wait_until(lambda: _passing(http, "gosvc") == 1, timeout=60, what="gosvc to pass")
        yield cat


def _passing(http: httpx.Client, service: str) -> int:
    return len(http.get(f"/v1/health/service/{service}", params={"passing": "1"}).json())


SERVICES = ("web", "db", "reader", "gosvc", "external")


def test_every_read_of_the_go_client_decodes(catalog: Catalog) -> None:
    args = [arg for name in SERVICES for arg in ("-service", name)]
    report = catalog.consulapi("read", *args, must_pass=False)
    assert report["errors"] == {}
    results = report["results"]

    web = results["health_service/web"]["value"]
    assert [e["Service"]["ID"] for e in web] == ["web-1", "web-2"]
    checks = {c["CheckID"]: c for c in web[0]["Checks"]}
    assert set(checks) == {"serfHealth", "service:web-1"}
    assert checks["service:web-1"]["Type"] == "http"
    assert checks["service:web-1"]["Status"] == "passing"
    assert len(results["health_service_passing/web"]["value"]) == 2
    assert results["health_service/web"]["index"] > 1

    reader_checks = {c["CheckID"]: c for c in results["health_checks/reader"]["value"]}
    assert set(reader_checks) == {"service:reader-1", "reader-extra"}
    assert reader_checks["service:reader-1"]["Type"] == "ttl"
    assert reader_checks["reader-extra"]["Status"] == "passing"
    assert results["health_service_passing/db"]["value"][0]["Checks"][1]["Type"] == "tcp"

    external = results["health_checks/external"]["value"][0]
    definition = external["Definition"]
    assert definition["HTTP"] == "http://127.0.0.1:9300/health"
    assert (definition["Interval"], definition["Timeout"]) == ("15s", "5s")
    assert definition["DeregisterCriticalServiceAfter"] == "1h30m0s"

    assert results["catalog_services"]["value"]["web"] == ["api", "blue", "v1"]
    assert results["catalog_service/gosvc"]["value"][0]["ServiceTags"] == ["go"]
    assert [n["Node"] for n in results["catalog_nodes"]["value"]] == [NODE]
    assert results["catalog_node"]["value"]["Node"]["Node"] == NODE
    agent_checks = results["agent_checks"]
    assert {"service:web-1", "service:db-1", "reader-extra", "external-http"} <= set(agent_checks)
    assert set(results["agent_services"]) == {
        "web-1",
        "web-2",
        "db-1",
        "reader-1",
        "gosvc",
        "external-1",
    }
    stats = results["agent_self"]["Stats"]["agent"]
    assert (stats["services"], stats["checks"]) == ("6", str(len(agent_checks)))

    by_name = results["agent_health_service_by_name/web"]
    assert by_name["status"] == "passing"
    assert [i["Service"]["ID"] for i in by_name["infos"]] == ["web-1", "web-2"]

    # What Consul answers for features it has and the catalog does not use.
    assert results["health_connect/web"]["value"] == []
    assert [c["Node"] for c in results["coordinate_nodes"]["value"]] == [NODE]
    assert results["event_list"]["value"] == []
    assert results["query_list"]["value"] == []
    assert results["agent_host"]["Host"]["hostname"]


def test_kv_through_the_go_client(catalog: Catalog) -> None:
    report = catalog.consulapi("kv", "-prefix", "gotest/")
    results = report["results"]
    assert results["get_value"] == "value-a"
    assert [p["Key"] for p in results["list"]["value"]] == ["gotest/a", "gotest/b/c", "gotest/b/d"]
    assert results["keys"]["value"] == ["gotest/a", "gotest/b/"]
    missing = results["get_missing"]
    assert missing["value"] is None
    # Consul answers a missing key with the index of the KV table: the last write.
    assert missing["index"] == max(p["ModifyIndex"] for p in results["list"]["value"])


def test_a_blocking_query_returns_when_the_service_changes(catalog: Catalog) -> None:
    before = catalog.consulapi("read", "-service", "web")["results"]["health_service/web"]
    waiter = subprocess.Popen(
        [
            str(consul_tool("consulapi")),
            "-addr",
            catalog.proc.http_addr,
            "wait",
            "-service",
            "web",
            "-index",
            str(before["index"]),
            "-wait",
            "90s",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        health_port = int(str(catalog.http.get("/v1/agent/service/web-1").json()["Port"]))
        catalog.register_sdk("web", "web-3", "http", health_port, tags=("v1",))
        out, _ = waiter.communicate(timeout=120)
    finally:
        waiter.kill()
        waiter.wait()
    assert waiter.returncode == 0, out
    result = json.loads(out)["results"]["health_service"]
    assert result["index"] > before["index"]
    # Registered passing by the SDK, so the new instance is in the passing answer at once.
    assert [e["Service"]["ID"] for e in result["value"]] == ["web-1", "web-2", "web-3"]
    catalog.put("/v1/agent/service/deregister/web-3")


TEMPLATE = """\
{{- range service "web" }}web {{ .ID }} {{ .Address }}:{{ .Port }} {{ .Checks.AggregatedStatus }}
{{ end -}}
{{- range service "reader" }}reader {{ .ID }}
{{ end -}}
{{- range service "db" }}db {{ .ID }} {{ join "," .Tags }}
{{ end -}}
"""


def test_consul_template_renders_healthy_instances_and_rerenders(
    catalog: Catalog, tmp_path: Path
) -> None:
    source, target = tmp_path / "in.tpl", tmp_path / "out.txt"
    source.write_text(TEMPLATE)
    proc = subprocess.Popen(
        [
            str(consul_tool("consul-template")),
            f"-consul-addr={catalog.proc.http_addr}",
            f"-template={source}:{target}",
            "-log-level=info",
        ],
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "consul-template.log", "w"),  # noqa: SIM115 - closed by the process' end
    )
    try:
        port = catalog.http.get("/v1/agent/service/web-1").json()["Port"]
        expected = (
            f"web web-1 127.0.0.1:{port} passing\n"
            f"web web-2 127.0.0.1:{port} passing\n"
            "reader reader-1\n"
            "db db-1 primary\n"
        )
        wait_until(
            lambda: target.exists() and target.read_text() == expected,
            timeout=60,
            what=f"consul-template to render (log: {tmp_path / 'consul-template.log'})",
        )
        # A failing TTL check takes the reader out of the healthy instances: re-rendered.
        catalog.put("/v1/agent/check/fail/reader-extra?note=down")
        without_reader = expected.replace("reader reader-1\n", "")
        wait_until(
            lambda: target.read_text() == without_reader,
            timeout=60,
            what="consul-template to re-render without the failing reader",
        )
        catalog.put("/v1/agent/check/pass/reader-extra")
        wait_until(lambda: target.read_text() == expected, timeout=60, what="reader back")
        assert proc.poll() is None, "consul-template exited"
    finally:
        proc.send_signal(signal.SIGINT)  # consul-template's stop signal
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_checks_render_as_consul_renders_them(catalog: Catalog) -> None:
    """The JSON itself, for the clients that do not go through Go's decoder."""
    http = catalog.http
    (entry,) = http.get("/v1/health/service/reader").json()
    checks = {c["CheckID"]: c for c in entry["Checks"]}
    sdk, alone = checks["service:reader-1"], checks["reader-extra"]
    assert (sdk["Type"], sdk["Interval"], sdk["Timeout"], sdk["Definition"]) == ("ttl", "", "", {})
    assert (alone["Type"], alone["Interval"], alone["Timeout"]) == ("ttl", "0s", "0s")
    web = http.get("/v1/agent/checks").json()["service:web-1"]
    assert (web["Type"], web["Interval"], web["Timeout"], web["Definition"]) == (
        "http", "1s", "1s", {}
    )  # fmt: skip
    (info,) = http.get("/v1/agent/health/service/name/reader").json()
    definition = info["Checks"][0]["Definition"]
    assert info["Checks"][0]["Type"] == ""
    assert (definition["Interval"], definition["Timeout"]) == ("0s", "0s")
    service = http.get("/v1/agent/service/web-1").json()
    # The agent tags a service's own IP as lan_ipv4/wan_ipv4; no address, no tags: omitted.
    own = {"Address": "127.0.0.1", "Port": service["Port"]}
    assert service["TaggedAddresses"] == {"lan_ipv4": own, "wan_ipv4": own}
    assert "ServiceTaggedAddresses" not in http.get("/v1/catalog/service/external").json()[0]
    assert "TaggedAddresses" not in http.get("/v1/health/service/external").json()[0]["Service"]
    node = http.get(f"/v1/catalog/node/{NODE}").json()["Node"]
    assert set(node["TaggedAddresses"]) == {"lan", "lan_ipv4", "wan", "wan_ipv4"}


def test_headers_as_consul_sends_them(catalog: Catalog) -> None:
    http = catalog.http
    health = http.get("/v1/health/service/web", params={"stale": ""}).headers
    assert health["X-Consul-Default-Acl-Policy"] == "allow"
    assert health["X-Consul-Effective-Consistency"] == "stale"
    assert health["X-Consul-Query-Backend"] == "blocking-query"
    assert http.get("/v1/catalog/services").headers["X-Consul-Effective-Consistency"] == "leader"
    kv = http.get("/v1/kv/gotest/", params={"recurse": ""}).headers
    assert kv["X-Consul-Query-Backend"] == "blocking-query"
    assert "X-Consul-Effective-Consistency" not in kv


def _dns(catalog: Catalog, name: str, rdtype: str) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype)
    return dns.query.udp(query, "127.0.0.1", port=catalog.proc.dns_port, timeout=10)


def test_dns_answers_as_consul_does(catalog: Catalog) -> None:
    srv = _dns(catalog, "reader.service.consul", "SRV")
    (rrset,) = srv.answer
    assert rrset[0].target.to_text() == "7f000001.addr.dc1.consul."
    addresses = [r for r in srv.additional if r.rdtype == dns.rdatatype.A]
    assert [(r.name.to_text(), r[0].to_text()) for r in addresses] == [
        ("7f000001.addr.dc1.consul.", "127.0.0.1")
    ]
    txt = _dns(catalog, f"{NODE}.node.consul", "TXT")
    assert sorted(rd.to_text() for rrset in txt.answer for rd in rrset) == [
        '"consul-network-segment="',
        '"consul-version=1.20.0"',
        '"rack=r1"',
    ]
    (soa,) = _dns(catalog, "nothing.service.consul", "A").authority
    assert soa[0].mname.to_text() == "ns.consul."
    consul = _dns(catalog, "consul.service.consul", "SRV")
    assert [(r.port, r.target.to_text()) for r in consul.answer[0]] == [
        (8300, f"{NODE}.node.dc1.consul.")
    ]
    assert [r[0].to_text() for r in _dns(catalog, "consul.service.consul", "A").answer] == [
        "127.0.0.1"
    ]


def _consul_cli(catalog: Catalog, *args: str) -> str:
    """A `consul` CLI command (Consul 1.20's own) pointed at the catalog."""
    done = subprocess.run(
        [str(consul_tool("consul")), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"CONSUL_HTTP_ADDR": catalog.proc.http_addr, "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, f"consul {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


def test_the_consul_cli_works_against_the_catalog(catalog: Catalog) -> None:
    entries = json.loads(_consul_cli(catalog, "watch", "-type=service", "-service=reader"))
    assert [e["Service"]["ID"] for e in entries] == ["reader-1"]
    checks = json.loads(_consul_cli(catalog, "watch", "-type=checks", "-service=reader"))
    assert {c["CheckID"] for c in checks} == {"service:reader-1", "reader-extra"}

    _consul_cli(catalog, "maint", "-enable", "-service=db-1", "-reason=cli")
    assert "db-1" in _consul_cli(catalog, "maint")
    _consul_cli(catalog, "maint", "-disable", "-service=db-1")
    assert "db-1" not in _consul_cli(catalog, "maint")

    services = _consul_cli(catalog, "catalog", "services", "-tags")
    assert any(line.split()[:2] == ["web", "api,blue,v1"] for line in services.splitlines())
    assert NODE in _consul_cli(catalog, "catalog", "nodes")
    assert NODE in _consul_cli(catalog, "members")

    _consul_cli(catalog, "kv", "put", "cli/x", "1")
    assert _consul_cli(catalog, "kv", "get", "cli/x").strip() == "1"

    _consul_cli(catalog, "event", "-name=cli-deploy", "payload")
    events = json.loads(_consul_cli(catalog, "watch", "-type=event", "-name=cli-deploy"))
    assert [e["Name"] for e in events] == ["cli-deploy"]
