"""Service identity on Kubernetes: the real Consul with Connect on, the intentions written
from callers by the catalog's Job, and each service's pod with the SDK's switch and its
own token. tests/kubernetes/test_consul_identity_job.py runs the Job against a real
Consul."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from _kube_stacks import load

from leapfrog.runtime.kubernetes import render_stack
from leapfrog.runtime.kubernetes._consul_identity import intention_entries

SERVE = {
    "command": "serve",
    "image": "reg.example/x",
    "port": 8000,
    "check": {"http": "/health/ready"},
}


def _data(identity: Any = True, **more: Any) -> dict[str, Any]:
    return {
        "name": "shop",
        "identity": identity,
        "services": {
            "web": {**SERVE, "depends_on": ["api"]},
            "worker": {**SERVE, "check": {"tcp": True}},
            "api": {**SERVE, "allow_from": ["worker"], "kv": ["api/"], "kv_write": ["api/s/"]},
        },
        **more,
    }


def _objects(tmp_path: Path, data: dict[str, Any]) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = render_stack(load(tmp_path, data)).objects
    return objects


def _one(objects: list[dict[str, Any]], kind: str, prefix: str) -> dict[str, Any]:
    (found,) = [
        o for o in objects if o["kind"] == kind and o["metadata"]["name"].startswith(prefix)
    ]
    return found


def _container(objects: list[dict[str, Any]], kind: str, prefix: str) -> dict[str, Any]:
    container: dict[str, Any] = _one(objects, kind, prefix)["spec"]["template"]["spec"][
        "containers"
    ][0]
    return container


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def _secret_of(value: Any) -> str:
    name: str = value["secretKeyRef"]["name"]
    return name


@pytest.mark.parametrize("default", ["deny", "allow"])
def test_the_server_runs_connect_with_the_stacks_default(tmp_path: Path, default: str) -> None:
    objects = _objects(tmp_path, _data({"default": default}))
    args = _container(objects, "StatefulSet", "catalog")["args"]
    wanted = f'-hcl=connect {{ enabled = true }} default_intention_policy = "{default}"'
    assert args.count(wanted) == 1


def test_identity_off_renders_no_connect_but_the_services_own_tokens(tmp_path: Path) -> None:
    objects = _objects(tmp_path, _data({"mtls": False}))
    args = _container(objects, "StatefulSet", "catalog")["args"]
    assert not any("connect" in a for a in args)
    api = _container(objects, "Deployment", "api")
    assert "LEAPFROG_IDENTITY" not in _env(api)
    # Its own token all the same (as a local instance), made by the same Job.
    assert _secret_of(_env(api)["CONSUL_HTTP_TOKEN"]) == "api-catalog-token"
    assert "scheme" not in api["readinessProbe"]["httpGet"]
    script = _container(objects, "Job", "catalog-acl-")["command"][-1]
    assert "service-intentions" not in script
    assert 'service_token api "$SERVICE_TOKEN_API"' in script


def test_each_service_gets_the_sdks_switch_its_own_token_and_https_probes(
    tmp_path: Path,
) -> None:
    rendered = render_stack(load(tmp_path, _data()))
    for name in ("web", "worker", "api"):
        container = _container(rendered.objects, "Deployment", name)
        tokens = [e for e in container["env"] if e["name"] == "CONSUL_HTTP_TOKEN"]
        assert [_secret_of(e["valueFrom"]) for e in tokens] == [f"{name}-catalog-token"]
        assert _env(container)["LEAPFROG_IDENTITY"] == "on"
        assert _env(container)["CONSUL_HTTP_ADDR"] == "catalog.shop.svc:8500"
    api = _container(rendered.objects, "Deployment", "api")
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert api[probe]["httpGet"]["scheme"] == "HTTPS"
    # A TCP check stays a TCP probe.
    assert "tcpSocket" in _container(rendered.objects, "Deployment", "worker")["readinessProbe"]
    secrets = {s.name for s in rendered.secrets}
    assert {"web-catalog-token", "worker-catalog-token", "api-catalog-token"} <= secrets


def test_the_job_mounts_each_services_token_and_makes_it_with_its_identity(
    tmp_path: Path,
) -> None:
    job = _container(_objects(tmp_path, _data()), "Job", "catalog-acl-")
    env = _env(job)
    assert _secret_of(env["SERVICE_TOKEN_API"]) == "api-catalog-token"
    assert _secret_of(env["SERVICE_TOKEN_WEB"]) == "web-catalog-token"
    script = job["command"][-1]
    assert 'service_token api "$SERVICE_TOKEN_API"' in script
    assert '-service-identity "$1"' in script
    rules = {"service": {"api": {"policy": "write"}}}
    rules["key_prefix"] = {"api/": {"policy": "read"}, "api/s/": {"policy": "write"}}
    compact = json.dumps(rules, separators=(",", ":"))
    assert f"policy leapfrog-service-api 'leapfrog: service api' '{compact}'" in script


def test_one_intentions_entry_per_service_with_callers(tmp_path: Path) -> None:
    stack = load(tmp_path, _data())
    entries = intention_entries(stack.spec)
    # web depends on api; worker is in api's allow_from; nobody calls web or worker.
    assert entries == [
        {
            "Kind": "service-intentions",
            "Name": "api",
            "Meta": {"managed-by": "leapfrog"},
            "Sources": [
                {
                    "Name": n,
                    "Action": "allow",
                    "Description": "declared in the stack file (callers)",
                }
                for n in ("web", "worker")
            ],
        }
    ]
    script = _container(render_stack(stack).objects, "Job", "catalog-acl-")["command"][-1]
    assert script.count("consul config write -") == 1
    assert 'case " api " in' in script  # the others' entries leapfrog wrote are deleted


def test_without_acl_the_job_writes_the_intentions_with_no_token(tmp_path: Path) -> None:
    rendered = render_stack(load(tmp_path, _data(catalog={"acl": False})))
    job = _container(rendered.objects, "Job", "catalog-acl-")
    assert list(_env(job)) == ["CONSUL_HTTP_ADDR"]
    assert "consul config write -" in job["command"][-1]
    assert rendered.secrets == []
    api = _env(_container(rendered.objects, "Deployment", "api"))
    assert api["LEAPFROG_IDENTITY"] == "on" and "CONSUL_HTTP_TOKEN" not in api


def test_the_load_balancer_presents_its_own_identity_to_the_routed_services(
    tmp_path: Path,
) -> None:
    data = _data(components={"lb": {}})
    data["services"]["web"]["route"] = {"path": "/"}
    rendered = render_stack(load(tmp_path, data))
    # web is routed: the lb may call it; api's callers stay the declared ones.
    entries = {
        e["Name"]: [s["Name"] for s in e["Sources"]]
        for e in intention_entries(load(tmp_path, data).spec)
    }
    assert entries == {"web": ["lb"], "api": ["web", "worker"]}
    # The renderer reads with the lb's own token (its service identity and every key).
    lb = _one(rendered.objects, "Deployment", "lb")["spec"]["template"]["spec"]
    renderer = next(c for c in lb["containers"] if c["name"] == "renderer")
    assert _secret_of(_env(renderer)["CONSUL_HTTP_TOKEN"]) == "lb-catalog-token"
    (init,) = lb["initContainers"]  # it waits until the Job has made that token
    assert _secret_of(_env(init)["CONSUL_HTTP_TOKEN"]) == "lb-catalog-token"
    assert "lb-catalog-token" in {s.name for s in rendered.secrets}
    script = _container(rendered.objects, "Job", "catalog-acl-")["command"][-1]
    assert 'service_token lb "$SERVICE_TOKEN_LB"' in script
    rules = json.dumps(
        {"service": {"lb": {"policy": "write"}}, "key_prefix": {"": {"policy": "read"}}},
        separators=(",", ":"),
    )
    assert f"policy leapfrog-service-lb 'leapfrog: service lb' '{rules}'" in script
    # HAProxy's template presents the `lb` certificate.
    config = _one(rendered.objects, "ConfigMap", "lb-template")["data"]["haproxy.cfg.j2"]
    assert '"identity": "lb"' in config.splitlines()[0]


def test_without_identity_the_load_balancer_reads_with_the_read_token(tmp_path: Path) -> None:
    data = _data({"mtls": False}, components={"lb": {}})
    data["services"]["web"]["route"] = {"path": "/"}
    rendered = render_stack(load(tmp_path, data))
    lb = _one(rendered.objects, "Deployment", "lb")["spec"]["template"]["spec"]
    renderer = next(c for c in lb["containers"] if c["name"] == "renderer")
    assert _secret_of(_env(renderer)["CONSUL_HTTP_TOKEN"]) == "catalog-read-token"
    assert "lb-catalog-token" not in {s.name for s in rendered.secrets}
    config = _one(rendered.objects, "ConfigMap", "lb-template")["data"]["haproxy.cfg.j2"]
    assert '"identity": ""' in config.splitlines()[0]


def test_every_object_with_identity_on_validates_strictly(tmp_path: Path) -> None:
    for obj in _objects(tmp_path, _data(kubernetes={"write_secrets": True})):
        kubernetes_validate.validate(obj, "1.37.0", strict=True)


def test_changed_callers_make_a_new_job_so_the_intentions_follow(tmp_path: Path) -> None:
    def job_name(callers: list[str]) -> str:
        data = _data()
        data["services"]["api"]["callers"] = callers
        name: str = _one(_objects(tmp_path, data), "Job", "catalog-acl-")["metadata"]["name"]
        return name

    assert job_name(["web"]) == job_name(["web"])
    assert job_name(["web"]) != job_name(["web", "worker"])
