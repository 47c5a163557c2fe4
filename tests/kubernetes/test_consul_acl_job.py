"""The rendered catalog against a real HashiCorp Consul: the server started with the
StatefulSet's own arguments (ACL default-deny, the management token from its Secret),
then the ACL Job's own script run with the env its pod gets. Afterwards DNS answers
with the `dns` token, the load balancer's token only reads, the services' token
registers and writes KV but manages nothing, and anonymous callers see nothing unless
the stack opts in with `catalog.anonymous_read`.

KWOK pods run no containers, so this is where the script itself is proven."""

from __future__ import annotations

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
from leapfrog.testing import wait_until
from tests.kubernetes._consul_server import RealConsul, real_consul

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

SECRETS = (
    "catalog-token", "catalog-dns-token", "catalog-read-token", "catalog-services-token",
    "web-catalog-token",
)  # fmt: skip


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


@dataclass
class Cluster:
    consul: RealConsul
    secrets: dict[str, str]
    objects: dict[bool, list[dict[str, Any]]]
    dns_before_job: str = ""

    def token(self, purpose: str) -> str:
        return self.secrets[f"catalog-{purpose}-token"]

    def run_job(self, anonymous_read: bool) -> None:
        """The ACL Job's script, with its pod's env, against this Consul."""
        self.consul.run_job(self.objects[anonymous_read], self.secrets)

    def dig(self, name: str) -> tuple[str, list[str]]:
        answer = dns.query.udp(
            dns.message.make_query(name, "A"), "127.0.0.1", port=self.consul.dns_port, timeout=5
        )
        addresses = [item.to_text() for rrset in answer.answer for item in rrset]
        return dns.rcode.to_text(answer.rcode()), addresses

    def call(self, method: str, path: str, token: str | None, **kwargs: Any) -> httpx.Response:
        return self.consul.call(method, path, token, **kwargs)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    base = tmp_path_factory.mktemp("consul-acl")
    objects = {opt_in: _rendered(base, opt_in) for opt_in in (False, True)}
    secrets = {name: str(uuid.uuid4()) for name in SECRETS}  # what `apply` generates
    with real_consul(objects[False], secrets, base) as consul:
        state = Cluster(consul, secrets, objects)
        management = secrets["catalog-token"]
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


def test_a_services_own_token_registers_it_and_no_other_with_identity_off(
    cluster: Cluster,
) -> None:
    """Identity off (the stack has no `identity:`): web's own token all the same, as a
    local instance's, with Consul's service identity of web."""
    own = cluster.secrets["web-catalog-token"]
    me = cluster.call("GET", "/v1/acl/token/self", own).json()
    assert me["ServiceIdentities"] == [{"ServiceName": "web"}]
    service = {"Name": "web", "ID": "web-2", "Address": "127.0.0.1", "Port": 8001}
    put = cluster.call("PUT", "/v1/agent/service/register", own, json=service)
    assert put.status_code == 200, put.text
    other = {"Name": "api", "ID": "api-9", "Address": "127.0.0.1", "Port": 9009}
    refused = cluster.call("PUT", "/v1/agent/service/register", own, json=other)
    assert refused.status_code == 403, refused.text
    assert "web" in cluster.call("GET", "/v1/catalog/services", own).json()  # it reads
    assert cluster.call("PUT", "/v1/kv/app/x", own, content=b"1").status_code == 403
    assert cluster.call("GET", "/v1/acl/tokens", own).status_code == 403


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
    assert len(after) == 6  # management, anonymous, dns, read, services, web
