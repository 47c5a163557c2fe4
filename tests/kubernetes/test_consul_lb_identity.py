"""The load balancer's identity on Kubernetes against a real HashiCorp Consul: the server
started with the rendered StatefulSet's arguments (Connect on, ACL default-deny), the
catalog Job's own script run with its pod's env, a routed SDK service started with its
Deployment's env, then the lb pod's renderer (`leapfrog template` with the renderer
container's env and the ConfigMap's template) and real HAProxy on what it rendered.
The renderer fetches the `lb` leaf with the lb's own token, HAProxy presents it, and the
service lets `lb` in by the rendered intention while refusing other identities.

KWOK pods run no containers, so this is where the pod's two halves are proven."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest
import yaml
from cryptography import x509

from leapfrog.components import component
from leapfrog.runtime.kubernetes import render_stack
from leapfrog.shared.cache import cache_dir
from leapfrog.spec import load_stack
from leapfrog.testing import CatalogProcess, end_process, free_port, wait_until
from tests.integration.service.conftest import MeshService, mtls_client
from tests.kubernetes._consul_server import RealConsul, container, pod_env, real_consul

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

_STACK = {
    "name": "shop",
    "identity": True,
    "components": {"lb": {}},
    "services": {
        "web": {
            "command": "serve",
            "image": "reg.example/web",
            "port": 8000,
            "route": {"path": "/web", "strip_prefix": True},
        },
        "api": {"command": "serve", "image": "reg.example/api", "port": 8000},
    },
}


@dataclass
class LbMesh:
    consul: RealConsul
    secrets: dict[str, str]
    objects: list[dict[str, Any]]
    web: MeshService
    base: Path

    def token(self, name: str) -> str:
        return self.secrets[f"{name}-catalog-token"]

    def uri(self, service: str) -> str:
        return self.consul.uri(service)

    def authorized(self, caller: str, target: str) -> tuple[bool, str]:
        return self.consul.authorized(caller, target, self.token(target))

    def renderer(self) -> dict[str, Any]:
        lb = next(
            o for o in self.objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "lb"
        )
        found: dict[str, Any] = next(
            c for c in lb["spec"]["template"]["spec"]["containers"] if c["name"] == "renderer"
        )
        return found


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LbMesh]:
    base = tmp_path_factory.mktemp("consul-lb-identity")
    path = base / "leapfrog.yaml"
    path.write_text(yaml.safe_dump(_STACK))
    rendered = render_stack(load_stack(path))
    secrets = {s.name: str(uuid.uuid4()) for s in rendered.secrets}  # what `apply` makes
    with real_consul(rendered.objects, secrets, base) as consul:
        consul.run_job(rendered.objects, secrets)
        env = pod_env(
            container(rendered.objects, "Deployment", "web"),
            secrets,
            POD_IP="127.0.0.1",
            LEAPFROG_INSTANCE="web-1",
        )
        given = {k: v for k, v in env.items() if k.startswith(("LEAPFROG_ROUTE", "CONSUL_HTTP_T"))}
        catalog = cast(CatalogProcess, SimpleNamespace(http_addr=consul.addr))
        web = MeshService(catalog, "web", base, **given).start()
        try:
            wait_until(web.ready, timeout=30, what="web serving TLS")
            yield LbMesh(consul, secrets, rendered.objects, web, base)
        finally:
            web.stop()


def _local_template(mesh: LbMesh, run: Path) -> tuple[Path, dict[str, Any]]:
    """The ConfigMap's template with its values line (listen, stats, sockets) moved to
    free loopback ports and this test's folder; the identity is kept as rendered."""
    config_map = next(o for o in mesh.objects if o["metadata"]["name"] == "lb-template")
    first, _, body = config_map["data"]["haproxy.cfg.j2"].partition("\n")
    values = json.loads(first.removeprefix("{%- set lb = ").removesuffix(" %}"))
    values |= {
        "listen": f"127.0.0.1:{free_port()}",
        "stats": f"127.0.0.1:{free_port()}",
        "run_dir": str(run),
        "admin_socket": str(run / "admin.sock"),
    }
    template = mesh.base / "haproxy.cfg.j2"
    template.write_text("{%- set lb = " + json.dumps(values) + " %}\n" + body)
    return template, values


def test_the_lbs_token_gets_its_own_leaf_and_no_services(mesh: LbMesh) -> None:
    me = mesh.consul.call("GET", "/v1/acl/token/self", mesh.token("lb")).json()
    assert me["ServiceIdentities"] == [{"ServiceName": "lb"}]
    # Asked before anyone fetched api's (Consul's agent caches a leaf by service).
    refused = mesh.consul.call("GET", "/v1/agent/connect/ca/leaf/api", mesh.token("lb"))
    assert refused.status_code == 403, refused.text
    # It reads what the read-only token read: services, nodes, every key.
    assert mesh.consul.call("GET", "/v1/kv/any/key", mesh.token("lb")).status_code == 404
    put = mesh.consul.call("PUT", "/v1/kv/any/key", mesh.token("lb"), content=b"x")
    assert put.status_code == 403


def test_the_renderer_fetches_the_lb_leaf_with_its_own_token_and_haproxy_presents_it(
    mesh: LbMesh, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    template, values = _local_template(mesh, run)
    assert values["identity"] == "lb"
    env = pod_env(mesh.renderer(), mesh.secrets)
    assert env["CONSUL_HTTP_TOKEN"] == mesh.token("lb")
    env |= {"CONSUL_HTTP_ADDR": mesh.consul.addr, "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    mesh.consul.wait_passing("web", mesh.token("lb"))
    config = run / "haproxy.cfg"
    done = subprocess.run(
        [sys.executable, "-m", "leapfrog", "template", "--once", "-t", f"{template}:{config}"],
        env=env, capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    text = config.read_text()
    # web's instance is reached over TLS with the leaf the renderer wrote next to it.
    (server,) = [line for line in text.splitlines() if f":{mesh.web.port} check" in line]
    crt = server.split(" crt ")[1].split()[0]
    assert Path(crt).parent == run / "mesh" and " verify required" in server
    pem = Path(crt).read_text()
    cert = x509.load_pem_x509_certificate(pem.encode())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [mesh.uri("lb")]
    assert "PRIVATE KEY" in pem
    # HAProxy's container (another user, the pod's group) reads it; nobody else.
    assert stat.S_IMODE(Path(crt).stat().st_mode) == 0o640

    lb = component("lb")
    binary = lb.install(lb.options({}), cache_dir(), lambda _line: None).extra["binary"]
    checked = subprocess.run(
        [binary, "-c", "-f", str(config)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    log = (tmp_path / "haproxy.log").open("w")
    proxy = subprocess.Popen([binary, "-db", "-f", str(config)], stdout=log, stderr=log)
    try:
        url = f"http://{values['listen']}/web/"

        def through() -> httpx.Response | None:
            try:
                got = httpx.get(url, timeout=5)
            except httpx.TransportError:
                return None
            return got if got.status_code == 200 else None

        answer = wait_until(through, timeout=20, what="web answering through HAProxy")
        assert answer is not None and answer.text == "web called by lb"
    finally:
        end_process(proxy)
        log.close()


def test_the_routed_service_lets_the_lb_in_by_the_rendered_intention_and_no_other(
    mesh: LbMesh, tmp_path: Path
) -> None:
    assert mesh.authorized("lb", "web") == (
        True,
        "Matched L4 intention: default/lb => default/web (Precedence: 9, Action: ALLOW)",
    )
    # api has no route: the lb may not call it.
    assert mesh.authorized("lb", "api") == (False, "Default intention policy")
    # web itself refuses a caller without a certificate, and one with another identity.
    bare = httpx.get(mesh.web.url + "/", verify=False)
    assert bare.status_code == 403 and "client certificate is required" in bare.text
    management = mesh.secrets["catalog-token"]
    leaf = mesh.consul.call("GET", "/v1/agent/connect/ca/leaf/tester", management).json()
    roots = mesh.consul.call("GET", "/v1/connect/ca/roots?pem=true", None).text
    with mtls_client(leaf, roots, tmp_path) as client:
        denied = client.get(mesh.web.url + "/")
    assert denied.status_code == 403
    assert denied.text == "caller 'tester' is not allowed: Default intention policy"
