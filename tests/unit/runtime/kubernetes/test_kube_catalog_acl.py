"""The catalog's ACL on Kubernetes: one token per purpose, as the local stack has, each in
its own Secret that only its users mount, and a Job that makes them in Consul.

The Job's script runs here against a recording stand-in for the `consul` CLI (what it asks
Consul); tests/kubernetes/test_consul_acl_job.py runs it against a real Consul."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from _kube_stacks import example_data, load

from leapfrog.runtime.kubernetes import render_stack
from leapfrog.runtime.local.paths import StatePaths
from leapfrog.runtime.local.platform import ensure_catalog_tokens

TOKENS = ("catalog-token", "catalog-dns-token", "catalog-read-token", "catalog-services-token")
OWN = ("hello-catalog-token", "reader-catalog-token")
"""The example's services' own tokens (each service has one, as each local instance)."""


def _rendered(tmp_path: Path, **catalog: Any) -> list[dict[str, Any]]:
    data = example_data()
    data["catalog"] = {**data.get("catalog", {}), **catalog}
    objects: list[dict[str, Any]] = render_stack(load(tmp_path, data)).objects
    return objects


def _secrets_used(pod: dict[str, Any]) -> set[str]:
    """Every Secret a pod template names: env, envFrom and volumes, all containers."""
    used: set[str] = set()
    for container in [*pod.get("initContainers", []), *pod["containers"]]:
        for entry in container.get("env", []):
            ref = entry.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                used.add(ref["name"])
        used |= {e["secretRef"]["name"] for e in container.get("envFrom", []) if "secretRef" in e}
    used |= {v["secret"]["secretName"] for v in pod.get("volumes", []) if "secret" in v}
    return used


def _workloads(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Pod templates by workload name (a Job by its name without the hash)."""
    pods = {}
    for obj in objects:
        if obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            name = obj["metadata"]["name"]
            if obj["kind"] == "Job":
                name = name.rsplit("-", 1)[0]
            pods[name] = obj["spec"]["template"]["spec"]
    return pods


def test_each_workload_mounts_only_the_token_it_needs(tmp_path: Path) -> None:
    pods = _workloads(_rendered(tmp_path))
    every = {*TOKENS, *OWN}
    tokens = {name: _secrets_used(pod) & every for name, pod in pods.items()}
    assert tokens.pop("catalog") == {"catalog-token"}  # initial_management
    assert tokens.pop("catalog-acl") == every  # makes the others with it
    assert tokens.pop("lb") == {"catalog-read-token"}  # the renderer only reads
    for service in ("hello", "reader"):
        # Its own, in the service and in the init container that waits for it.
        assert tokens.pop(service) == {f"{service}-catalog-token"}
        (init,) = pods[service]["initContainers"]
        assert init["command"][:3] == ["leapfrog", "catalog", "wait-token"]
    # Nothing else (kafka, postgres and their Jobs, ...) holds a catalog token.
    assert all(not used for used in tokens.values()), tokens
    lb = next(c for c in pods["lb"]["containers"] if c["name"] == "renderer")
    env = {e["name"]: e for e in lb["env"]}
    ref = env["CONSUL_HTTP_TOKEN"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "catalog-read-token", "key": "token"}
    # The renderer's first query would be refused before the Job ran: its pod waits too.
    (init,) = pods["lb"]["initContainers"]
    assert init["command"][:3] == ["leapfrog", "catalog", "wait-token"]
    assert {e["name"] for e in init["env"]} == {"CONSUL_HTTP_ADDR", "CONSUL_HTTP_TOKEN", "HOME"}
    assert init["securityContext"]["runAsUser"] == 10001  # leapfrog's image's user


def test_each_token_is_a_generated_secret(tmp_path: Path) -> None:
    data = example_data()
    rendered = render_stack(load(tmp_path, data))
    catalog = {s.name: s for s in rendered.secrets if s.component == "catalog"}
    assert set(catalog) == {*TOKENS, *OWN}
    assert all(dict(s.generated) == {"token": "uuid"} for s in catalog.values())


def test_without_acl_there_are_no_tokens_and_no_job(tmp_path: Path) -> None:
    objects = _rendered(tmp_path, acl=False)
    pods = _workloads(objects)
    assert "catalog-acl" not in pods
    assert all(not (_secrets_used(pod) & set(TOKENS)) for pod in pods.values())


FAKE_CONSUL = """\
import json, os, sys
args = sys.argv[1:]
stdin = sys.stdin.read() if "-" in args else None
with open(os.environ["CONSUL_LOG"], "a") as log:
    token = os.environ.get("CONSUL_HTTP_TOKEN")
    log.write(json.dumps({"args": args, "token": token, "stdin": stdin}) + "\\n")
# As on a new cluster: no token is known yet, the anonymous-read policy exists.
sys.exit(1 if args[:3] == ["acl", "token", "read"] else 0)
"""


Calls = list[dict[str, Any]]


def _run_job(tmp_path: Path, objects: list[dict[str, Any]]) -> tuple[Calls, dict[str, str]]:
    """Runs the ACL Job's script with the env its pod gets (a fresh UUID per Secret);
    returns the calls it made to `consul` and that env."""
    job = next(o for o in objects if o["kind"] == "Job" and "catalog-acl" in o["metadata"]["name"])
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["image"].startswith("hashicorp/consul:")
    values = {name: str(uuid.uuid4()) for name in (*TOKENS, *OWN)}
    env: dict[str, str] = {}
    for entry in container["env"]:
        ref = entry.get("valueFrom", {}).get("secretKeyRef")
        env[entry["name"]] = values[ref["name"]] if ref else entry["value"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "consul"
    fake.write_text(f"#!{sys.executable}\n{FAKE_CONSUL}")
    fake.chmod(0o755)
    log = tmp_path / "calls.jsonl"
    run_env = {**env, "PATH": f"{bin_dir}:{os.environ['PATH']}", "CONSUL_LOG": str(log)}
    subprocess.run(container["command"], env=run_env, check=True, timeout=60)
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    return calls, {**env, **{f"secret:{k}": v for k, v in values.items()}}


def _flag(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def _local_rules(tmp_path: Path) -> dict[str, Any]:
    """The rules of the local stack's tokens (the catalog-tokens.json `up` writes)."""
    paths = StatePaths(tmp_path / "state")
    ensure_catalog_tokens(paths)
    tokens = json.loads(paths.catalog_tokens.read_text())["tokens"]
    return {name: entry["Rules"] for name, entry in tokens.items()}


def test_the_job_makes_each_policy_with_the_local_stacks_rules(tmp_path: Path) -> None:
    calls, env = _run_job(tmp_path, _rendered(tmp_path))
    management = env["secret:catalog-token"]
    assert env["CONSUL_HTTP_ADDR"] == "catalog.example.svc:8500"
    assert all(c["token"] == management for c in calls if c["args"][:3] != ["acl", "token", "read"])
    created = {
        _flag(c["args"], "-name"): json.loads(_flag(c["args"], "-rules"))
        for c in calls
        if c["args"][:3] == ["acl", "policy", "create"]
    }
    local = _local_rules(tmp_path)
    # Each service has its own token (a service identity) and policy, as each local
    # instance; `leapfrog-services` stays for the platform's programs that act as services.
    assert set(local) == {"dns", "read"} and set(created) == {
        *(f"leapfrog-{n}" for n in local),
        "leapfrog-services",
        "leapfrog-service-hello",
        "leapfrog-service-reader",
    }
    assert {f"leapfrog-{name}": rules for name, rules in local.items()}.items() <= created.items()
    assert created["leapfrog-dns"] == {
        "service_prefix": {"": {"policy": "read"}},
        "node_prefix": {"": {"policy": "read"}},
    }


def test_the_job_makes_each_token_with_its_secret_and_sets_the_dns_token(
    tmp_path: Path,
) -> None:
    calls, env = _run_job(tmp_path, _rendered(tmp_path))
    made = {
        _flag(c["args"], "-policy-name"): _flag(c["args"], "-secret")
        for c in calls
        if c["args"][:3] == ["acl", "token", "create"]
    }
    assert made == {
        **{
            f"leapfrog-{purpose}": env[f"secret:catalog-{purpose}-token"]
            for purpose in ("dns", "read", "services")
        },
        **{f"leapfrog-service-{s}": env[f"secret:{s}-catalog-token"] for s in ("hello", "reader")},
    }
    # A token is created only when it cannot read itself: a re-run keeps it.
    reads = [c for c in calls if c["args"][:3] == ["acl", "token", "read"]]
    assert {c["token"] for c in reads} == set(made.values())
    (agent,) = [c for c in calls if c["args"][:2] == ["acl", "set-agent-token"]]
    assert agent["args"][2:] == ["dns", "-"]  # from stdin, not on the command line
    assert agent["stdin"] == env["secret:catalog-dns-token"]


@pytest.mark.parametrize("opt_in", [False, True])
def test_anonymous_read_is_the_explicit_opt_in(tmp_path: Path, opt_in: bool) -> None:
    calls, _ = _run_job(tmp_path, _rendered(tmp_path, anonymous_read=opt_in))
    anonymous = "00000000-0000-0000-0000-000000000002"
    updated = [c["args"] for c in calls if c["args"][:3] == ["acl", "token", "update"]]
    deleted = [c["args"] for c in calls if c["args"][:3] == ["acl", "policy", "delete"]]
    if opt_in:
        assert updated == [
            ["acl", "token", "update", "-accessor-id", anonymous, "-policy-name", "anonymous-read"]
        ]
        (policy,) = [
            c["args"]
            for c in calls
            if c["args"][:3] == ["acl", "policy", "create"] and "anonymous-read" in c["args"]
        ]
        rules = json.loads(_flag(policy, "-rules"))
        assert rules["key_prefix"] == {"": {"policy": "read"}}
        assert deleted == []
    else:
        # Off (the default): the anonymous token gets nothing, and a policy an earlier
        # opt-in made is deleted.
        assert updated == []
        assert deleted == [["acl", "policy", "delete", "-name", "anonymous-read"]]
