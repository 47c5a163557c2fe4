"""Service identity on Kubernetes: the real Consul's service mesh, from the same
declarations as the local catalog's (`identity:`, each service's callers).

* The server runs with Connect on (`connect { enabled = true }`: Consul's built-in CA,
  whose trust domain Consul derives from its cluster ID, `<id>.consul`) and
  `default_intention_policy` set to the stack's `identity.default`, as the local catalog
  is started with `--default-intention-policy`.
* The catalog's Job writes one `service-intentions` config entry per service that has
  callers: `<caller> => <service> (allow)` for each of them (`declared_pairs`, the
  pairs the local stack writes as intentions: the declared callers, and the load
  balancer to each service with a `route:`), marked `Meta: {managed-by: leapfrog}`; an
  entry leapfrog wrote for a service that no longer has callers is deleted, entries
  anyone else wrote are not touched (one for a declared service stays in force, as a
  local intention someone else made on a declared pair). `config write` replaces the
  whole entry, so a re-run keeps it and a changed stack file's re-apply updates it.
* With ACL on, each service has a token of its own (Secret `<service>-catalog-token`;
  identity on or off, as each local instance has)
  with Consul's service identity of that service (write that service, read every
  service and node: enough for its leaf certificate, `/v1/agent/connect/authorize` on
  itself and the intentions that name it) plus read on its `kv:` prefixes and write on
  its `kv_write:` ones, as a local instance's token. The shared services token could
  fetch any service's certificate; this one only its own. The load balancer gets one
  too (Secret `lb-catalog-token`, Consul's service identity `lb` and read on every key,
  as the local one's): its renderer fetches the `lb` leaf with it, which HAProxy
  presents to the routed services.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from leapfrog.components import kube as k
from leapfrog.spec import LB, IdentitySpec, StackSpec, declared_pairs

__all__ = [
    "LB",
    "MANAGED_META",
    "Grant",
    "connect_hcl",
    "identity_grants",
    "intention_entries",
    "intentions_script",
    "pod_identity_env",
    "service_token_env",
    "service_token_secret",
    "service_tokens_script",
]

MANAGED_META = {"managed-by": "leapfrog"}
"""The Meta that marks the config entries leapfrog writes (and may delete)."""
_DESCRIPTION = "declared in the stack file (callers)"


def connect_hcl(identity: IdentitySpec) -> str:
    return f'connect {{ enabled = true }} default_intention_policy = "{identity.default}"'


def service_token_secret(service: str) -> str:
    """The Secret with the token of `service` (its key `token`)."""
    return f"{service}-catalog-token"


def service_token_env(service: str) -> str:
    """The Job's env variable holding the token of `service`."""
    return "SERVICE_TOKEN_" + re.sub(r"[^A-Za-z0-9]", "_", service).upper()


@dataclass(frozen=True)
class Grant:
    """What one identity's token may do besides its service identity: read its `kv`
    prefixes, write its `kv_write` ones (the local stack's InstanceGrant)."""

    kv: tuple[str, ...] = ()
    kv_write: tuple[str, ...] = ()


def identity_grants(spec: StackSpec) -> dict[str, Grant]:
    """The identities with a token of their own (with `catalog.acl`): each service, as a
    local instance; with identity on also the load balancer (reading every key, as its
    read-only token did), which then needs its own certificate."""
    if not (spec.catalog.enabled and spec.catalog.acl):
        return {}
    grants = {
        name: Grant(tuple(service.kv), tuple(service.kv_write))
        for name, service in spec.services.items()
    }
    if spec.identity_on and LB in spec.components:
        grants[LB] = Grant(kv=("",))
    return grants


def _service_rules(name: str, grant: Grant) -> str:
    """The identity's own policy: its `kv:`/`kv_write:` prefixes (the service identity
    gives the rest). The `service` rule repeats what the identity gives, so that a
    service without prefixes still has a policy whose rules Consul accepts."""
    prefixes = {p: {"policy": "read"} for p in grant.kv}
    prefixes |= {p: {"policy": "write"} for p in grant.kv_write}
    rules: dict[str, Any] = {"service": {name: {"policy": "write"}}}
    if prefixes:
        rules["key_prefix"] = prefixes
    return json.dumps(rules, separators=(",", ":"))


def service_tokens_script(grants: Mapping[str, Grant]) -> list[str]:
    """Lines of the ACL Job (after its `policy` function): per identity a policy with
    its rules, created or updated, and its token with its service identity, created
    once (a token that can read itself is kept)."""
    lines = [
        'service_token() { CONSUL_HTTP_TOKEN="$2" consul acl token read -self >/dev/null 2>&1 '
        '|| consul acl token create -secret "$2" -service-identity "$1" '
        '-policy-name "leapfrog-service-$1" -description "leapfrog: service $1" >/dev/null; }',
    ]
    for name, grant in grants.items():
        description = shlex.quote(f"leapfrog: service {name}")
        rules = shlex.quote(_service_rules(name, grant))
        lines.append(f"policy leapfrog-service-{name} {description} {rules}")
        lines.append(f'service_token {name} "${service_token_env(name)}"')
    return lines


def intention_entries(spec: StackSpec) -> list[dict[str, Any]]:
    """One `service-intentions` config entry per service that has callers."""
    pairs = declared_pairs(spec)
    entries = []
    for name in spec.services:
        callers = sorted(source for source, target in pairs if target == name)
        if not callers:
            continue
        sources = [{"Name": c, "Action": "allow", "Description": _DESCRIPTION} for c in callers]
        entries.append(
            {"Kind": "service-intentions", "Name": name, "Meta": MANAGED_META, "Sources": sources}
        )
    return entries


def intentions_script(spec: StackSpec) -> list[str]:
    """Lines of the catalog's Job that make leapfrog's intentions what `spec` declares."""
    entries = intention_entries(spec)
    mark = shlex.quote(next(f'"{k}": "{v}"' for k, v in MANAGED_META.items()))
    lines = [
        # `theirs NAME`: an entry for NAME exists that leapfrog did not write.
        'theirs() { consul config read -kind service-intentions -name "$1" >/dev/null 2>&1 '
        f'&& ! consul config read -kind service-intentions -name "$1" | grep -qF {mark}; }}',
    ]
    for entry in entries:
        name = entry["Name"]
        body = shlex.quote(json.dumps(entry, separators=(",", ":")))
        # Someone else's entry for a declared service stays in force, as a local
        # intention someone else made on a declared pair does.
        lines.append(
            f"if theirs {name}; then echo 'intentions of {name}: an entry not made by "
            f"leapfrog stays in force'; else printf %s {body} | consul config write - "
            ">/dev/null; fi"
        )
    declared = " ".join(e["Name"] for e in entries)
    # A service no longer with callers: its entry goes, if leapfrog wrote it.
    lines += [
        "for name in $(consul config list -kind service-intentions); do",
        f'  case " {declared} " in *" $name "*) continue ;; esac',
        f'  if consul config read -kind service-intentions -name "$name" | grep -qF {mark}; '
        'then consul config delete -kind service-intentions -name "$name" >/dev/null; fi',
        "done",
    ]
    return lines


def pod_identity_env(
    platform: list[dict[str, Any]], service: str, spec: StackSpec
) -> list[dict[str, Any]]:
    """The platform's env for a service's pod: with ACL the service's own token in place
    of the services' shared one; with identity on the SDK's switch (LEAPFROG_IDENTITY=on,
    as locally)."""
    acl = service in identity_grants(spec)
    env = [e for e in platform if not (acl and e["name"] == "CONSUL_HTTP_TOKEN")]
    if spec.identity_on:
        env.append({"name": "LEAPFROG_IDENTITY", "value": "on"})
    if acl:
        env.append(k.secret_env("CONSUL_HTTP_TOKEN", service_token_secret(service), "token"))
    return env
