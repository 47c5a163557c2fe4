"""The rendered catalog against a real HashiCorp Consul: the server started with the
StatefulSet's own arguments (ACL default-deny, the management token from its Secret),
then the ACL Job's own script run with the env its pod gets. Afterwards DNS answers
with the `dns` token, the load balancer's token only reads, the services' token
registers and writes KV but manages nothing, and anonymous callers see nothing unless
the stack opts in with `catalog.anonymous_read`.

KWOK pods run no containers, so this is where the script itself is proven."""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import dns.rcode
import httpx
import pytest
import yaml

from leapfrog.runtime.kubernetes import render_stack
from leapfrog.spec import load_stack
from leapfrog.testing import consul_tool, free_port, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

SECRETS = ("catalog-token", "catalog-dns-token", "catalog-read-token", "catalog-services-token")
_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def _rendered(directory: Path, anonymous_read: bool) -> list[dict[str, Any]]:
    stack = {
        "name": "shop",
        "catalog": {"anonymous_read": anonymous_read},
        "services": {"web": {"command": "serve", "image": "reg.example/web", "port": 8000}},
        "components": {"lb": {}},
    }
    path = directory / f"leapfrog-{anonymous_read}.yaml"
    path.write_text(yaml.safe_dump(stack))
    objects: list[dict[str, Any]] = render_stack(load_stack(path)).objects
    return objects


def _container(objects: list[dict[str, Any]], kind: str, prefix: str) -> dict[str, Any]:
    obj = next(o for o in objects if o["kind"] == kind and o["metadata"]["name"].startswith(prefix))
    container: dict[str, Any] = obj["spec"]["template"]["spec"]["containers"][0]
    return container


def _env(container: dict[str, Any], secrets: dict[str, str], **given: str) -> dict[str, str]:
    """The container's env as the kubelet makes it: Secret values, downward API `given`."""
    env = {}
    for entry in container["env"]:
        source = entry.get("valueFrom", {})
        if "secretKeyRef" in source:
            env[entry["name"]] = secrets[source["secretKeyRef"]["name"]]
        elif "fieldRef" in source:
            env[entry["name"]] = given[entry["name"]]
        else:
            env[entry["name"]] = entry["value"]
    return env


@dataclass
class Cluster:
    http: httpx.Client
    dns_port: int
    secrets: dict[str, str]
    objects: dict[bool, list[dict[str, Any]]]
    addr: str
    bin_dir: Path
    dns_before_job: str = ""

    def token(self, purpose: str) -> str:
        return self.secrets[f"catalog-{purpose}-token"]

    def run_job(self, anonymous_read: bool) -> None:
        """The ACL Job's script, with its pod's env, against this Consul."""
        container = _container(self.objects[anonymous_read], "Job", "catalog-acl-")
        env = _env(container, self.secrets)
        env["CONSUL_HTTP_ADDR"] = self.addr  # the Service's name, here the agent itself
        env["PATH"] = f"{self.bin_dir}:{os.environ['PATH']}"
        subprocess.run(container["command"], env=env, check=True, timeout=120)

    def dig(self, name: str) -> tuple[str, list[str]]:
        answer = dns.query.udp(
            dns.message.make_query(name, "A"), "127.0.0.1", port=self.dns_port, timeout=5
        )
        addresses = [item.to_text() for rrset in answer.answer for item in rrset]
        return dns.rcode.to_text(answer.rcode()), addresses

    def call(self, method: str, path: str, token: str | None, **kwargs: Any) -> httpx.Response:
        headers = {"X-Consul-Token": token} if token else {}
        return self.http.request(method, path, headers=headers, **kwargs)


def _server_argv(container: dict[str, Any], env: dict[str, str], base: Path) -> list[str]:
    """The StatefulSet's arguments, `$(VAR)` expanded as Kubernetes does, on loopback
    ports of this machine and a data dir of the test's own."""
    ports = {p: free_port() for p in ("http", "dns", "server", "serf_lan", "serf_wan")}
    local = {
        "-client": "127.0.0.1",
        "-data-dir": str(base / "data"),
        "-dns-port": str(ports["dns"]),
    }
    argv = []
    for rendered in container["args"]:
        arg = _VAR.sub(lambda m: env[m.group(1)], rendered)
        flag = arg.split("=", 1)[0]
        argv.append(f"{flag}={local[flag]}" if flag in local else arg)
    placed = " ".join(f"{k} = {v}" for k, v in ports.items() if k != "dns")
    return [*argv, "-node=catalog-0", f"-hcl=ports {{ {placed} grpc = -1 grpc_tls = -1 }}"]


def _answers(state: Cluster, path: str, token: str) -> bool:
    try:
        return state.call("GET", path, token).status_code == 200
    except httpx.TransportError:  # not listening yet
        return False


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    base = tmp_path_factory.mktemp("consul-acl")
    objects = {opt_in: _rendered(base, opt_in) for opt_in in (False, True)}
    secrets = {name: str(uuid.uuid4()) for name in SECRETS}  # what `apply` generates
    server = _container(objects[False], "StatefulSet", "catalog")
    env = _env(server, secrets, POD_IP="127.0.0.1")
    argv = [str(consul_tool("consul")), *_server_argv(server, env, base)]
    assert "-client=127.0.0.1" in argv and not any("0.0.0.0" in a for a in argv)
    http_port = int(re.search(r"http = (\d+)", argv[-1]).group(1))  # type: ignore[union-attr]
    dns_port = int(next(a for a in argv if a.startswith("-dns-port=")).split("=")[1])
    bin_dir = base / "bin"
    bin_dir.mkdir()
    (bin_dir / "consul").symlink_to(consul_tool("consul"))
    log = open(base / "consul.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    client = httpx.Client(base_url=f"http://127.0.0.1:{http_port}", timeout=30)
    state = Cluster(client, dns_port, secrets, objects, f"127.0.0.1:{http_port}", bin_dir)
    try:
        management = secrets["catalog-token"]
        wait_until(
            lambda: _answers(state, "/v1/acl/policies", management),
            timeout=120,
            interval=0.5,
            what=f"consul with ACL bootstrapped ({base / 'consul.log'})",
        )
        service = {"Name": "web", "ID": "web-1", "Address": "127.0.0.1", "Port": 8000}
        put = state.call("PUT", "/v1/agent/service/register", management, json=service)
        assert put.status_code == 200, put.text
        wait_until(
            lambda: state.call("GET", "/v1/catalog/service/web", management).json(),
            timeout=30,
            what="web in the catalog",
        )
        state.dns_before_job = state.dig("web.service.consul")[0]
        state.run_job(anonymous_read=False)
        yield state
    finally:
        client.close()
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_dns_answers_with_the_dns_token_the_job_set(cluster: Cluster) -> None:
    # Before the Job, Consul's DNS used the anonymous token: default-deny, nothing.
    assert cluster.dns_before_job == "NXDOMAIN"

    def answered() -> tuple[str, list[str]] | None:
        rcode, addresses = cluster.dig("web.service.consul")
        return (rcode, addresses) if addresses else None

    answer = wait_until(answered, timeout=30, interval=0.5, what="DNS answering web.service")
    assert answer == ("NOERROR", ["127.0.0.1"])
    # The token is the agent's dns token, with the dns policy's rules.
    me = cluster.call("GET", "/v1/acl/token/self", cluster.token("dns")).json()
    assert [p["Name"] for p in me["Policies"]] == ["leapfrog-dns"]


def test_the_load_balancers_token_only_reads(cluster: Cluster) -> None:
    read = cluster.token("read")
    assert "web" in cluster.call("GET", "/v1/catalog/services", read).json()
    put = cluster.call("PUT", "/v1/kv/lb-may-not", read, content=b"x")
    assert put.status_code == 403, put.text
    service = {"Name": "intruder", "Port": 1}
    assert cluster.call("PUT", "/v1/agent/service/register", read, json=service).status_code == 403
    assert cluster.call("PUT", "/v1/kv/k", cluster.token("services"), content=b"v").json() is True
    assert cluster.call("GET", "/v1/kv/k?raw", read).content == b"v"


def test_the_services_token_registers_and_writes_but_manages_nothing(cluster: Cluster) -> None:
    services = cluster.token("services")
    service = {"Name": "api", "ID": "api-1", "Address": "127.0.0.1", "Port": 9000}
    put = cluster.call("PUT", "/v1/agent/service/register", services, json=service)
    assert put.status_code == 200, put.text
    assert cluster.call("PUT", "/v1/kv/app/x", services, content=b"1").json() is True
    assert cluster.call("GET", "/v1/acl/tokens", services).status_code == 403
    assert (
        cluster.call("PUT", "/v1/agent/token/dns", services, json={"Token": ""}).status_code == 403
    )


def test_anonymous_callers_see_nothing_unless_the_stack_opts_in(cluster: Cluster) -> None:
    assert cluster.call("GET", "/v1/catalog/services", None).json() == {}
    cluster.run_job(anonymous_read=True)
    services = wait_until(
        lambda: cluster.call("GET", "/v1/catalog/services", None).json() or None,
        timeout=60,
        interval=0.5,
        what="anonymous reads after the opt-in",
    )
    assert "web" in services
    cluster.run_job(anonymous_read=False)  # opting out takes it away again
    wait_until(
        lambda: cluster.call("GET", "/v1/catalog/services", None).json() == {},
        timeout=60,
        interval=0.5,
        what="anonymous reads gone after the opt-out",
    )


def test_a_rerun_of_the_job_keeps_the_tokens(cluster: Cluster) -> None:
    management = cluster.secrets["catalog-token"]
    before = cluster.call("GET", "/v1/acl/tokens", management).json()
    cluster.run_job(anonymous_read=False)
    after = cluster.call("GET", "/v1/acl/tokens", management).json()
    assert sorted(t["AccessorID"] for t in after) == sorted(t["AccessorID"] for t in before)
    assert len(after) == 5  # management, anonymous, dns, read, services
