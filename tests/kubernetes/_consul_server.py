"""A real HashiCorp Consul started from the rendered catalog's own StatefulSet, and the
catalog Job's own script run against it with its pod's env: how the tests of the
rendered Consul prove what KWOK (which runs no containers) cannot."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from leapfrog.testing import consul_tool, end_process, free_port, wait_until

_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def container(objects: list[dict[str, Any]], kind: str, prefix: str) -> dict[str, Any]:
    obj = next(o for o in objects if o["kind"] == kind and o["metadata"]["name"].startswith(prefix))
    found: dict[str, Any] = obj["spec"]["template"]["spec"]["containers"][0]
    return found


def pod_env(spec: dict[str, Any], secrets: dict[str, str], **given: str) -> dict[str, str]:
    """The container's env as the kubelet makes it: Secret values, downward API `given`."""
    env = {}
    for entry in spec["env"]:
        source = entry.get("valueFrom", {})
        if "secretKeyRef" in source:
            env[entry["name"]] = secrets[source["secretKeyRef"]["name"]]
        elif "fieldRef" in source:
            env[entry["name"]] = given[entry["name"]]
        else:
            env[entry["name"]] = entry["value"]
    return env


def server_argv(spec: dict[str, Any], env: dict[str, str], base: Path) -> list[str]:
    """The StatefulSet's arguments, `$(VAR)` expanded as Kubernetes does, on loopback
    ports of this machine and a data dir of the test's own."""
    ports = {p: free_port() for p in ("http", "dns", "server", "serf_lan", "serf_wan")}
    local = {
        "-client": "127.0.0.1",
        "-data-dir": str(base / "data"),
        "-dns-port": str(ports["dns"]),
    }
    argv = []
    for rendered in spec["args"]:
        arg = _VAR.sub(lambda m: env[m.group(1)], rendered)
        flag = arg.split("=", 1)[0]
        argv.append(f"{flag}={local[flag]}" if flag in local else arg)
    placed = " ".join(f"{k} = {v}" for k, v in ports.items() if k != "dns")
    return [*argv, "-node=catalog-0", f"-hcl=ports {{ {placed} grpc = -1 grpc_tls = -1 }}"]


@dataclass
class RealConsul:
    http: httpx.Client
    addr: str
    dns_port: int
    bin_dir: Path
    log: Path

    def call(self, method: str, path: str, token: str | None, **kwargs: Any) -> httpx.Response:
        headers = {"X-Consul-Token": token} if token else {}
        return self.http.request(method, path, headers=headers, **kwargs)

    def answers(self, path: str, token: str | None) -> bool:
        try:
            return self.call("GET", path, token).status_code == 200
        except httpx.TransportError:  # not listening yet
            return False

    def uri(self, service: str) -> str:
        """`service`'s SPIFFE ID in this Consul's trust domain."""
        roots = self.call("GET", "/v1/connect/ca/roots", None).json()
        return f"spiffe://{roots['TrustDomain']}/ns/default/dc/dc1/svc/{service}"

    def authorized(self, caller: str, target: str, token: str) -> tuple[bool, str]:
        """`/v1/agent/connect/authorize` for `caller` calling `target` (with `target`'s
        token, as the SDK asks): Consul's decision and its reason."""
        body = {"Target": target, "ClientCertURI": self.uri(caller)}
        answer = self.call("POST", "/v1/agent/connect/authorize", token, json=body)
        assert answer.status_code == 200, answer.text
        got = answer.json()
        return got["Authorized"], got["Reason"]

    def wait_passing(self, service: str, token: str) -> None:
        """Until `service` has an instance registered and passing."""
        wait_until(
            lambda: self.call("GET", f"/v1/health/service/{service}?passing=1", token).json(),
            timeout=30,
            what=f"{service} registered and passing in Consul",
        )

    def run_job(self, objects: list[dict[str, Any]], secrets: dict[str, str]) -> None:
        """The catalog Job's script, with its pod's env, against this Consul."""
        job = container(objects, "Job", "catalog-acl-")
        env = pod_env(job, secrets)
        env["CONSUL_HTTP_ADDR"] = self.addr  # the Service's name, here the agent itself
        env["PATH"] = f"{self.bin_dir}:{os.environ['PATH']}"
        subprocess.run(job["command"], env=env, check=True, timeout=120)


@contextlib.contextmanager
def real_consul(
    objects: list[dict[str, Any]], secrets: dict[str, str], base: Path
) -> Iterator[RealConsul]:
    """Consul started with the rendered StatefulSet's arguments and env (ACL on), once
    the management token may list policies."""
    server = container(objects, "StatefulSet", "catalog")
    env = pod_env(server, secrets, POD_IP="127.0.0.1")
    argv = [str(consul_tool("consul")), *server_argv(server, env, base)]
    assert "-client=127.0.0.1" in argv and not any("0.0.0.0" in a for a in argv)
    http_port = int(re.search(r"http = (\d+)", argv[-1]).group(1))  # type: ignore[union-attr]
    dns_port = int(next(a for a in argv if a.startswith("-dns-port=")).split("=")[1])
    bin_dir = base / "bin"
    bin_dir.mkdir()
    (bin_dir / "consul").symlink_to(consul_tool("consul"))
    log_path = base / "consul.log"
    log = open(log_path, "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    client = httpx.Client(base_url=f"http://127.0.0.1:{http_port}", timeout=30)
    consul = RealConsul(client, f"127.0.0.1:{http_port}", dns_port, bin_dir, log_path)
    try:
        management = secrets.get("catalog-token")
        wait_until(
            lambda: consul.answers("/v1/acl/policies", management),
            timeout=120,
            interval=0.5,
            what=f"consul with ACL bootstrapped ({log_path})",
        )
        yield consul
    finally:
        client.close()
        end_process(proc)
        log.close()
