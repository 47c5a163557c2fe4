"""The catalog on Kubernetes: a real HashiCorp Consul server (one replica, UI on), which
the SDK and the load balancer's renderer talk to exactly as to the local catalog.

With `catalog.acl` Consul runs default-deny, as the local catalog does, with one token
per purpose, each a generated Secret (created at apply time) that only its users mount:

* `catalog-token`, the management token: the server (its `initial_management`, put into
  the `-hcl` argument through Kubernetes' `$(VAR)` expansion, so it is never in a
  manifest) and the ACL Job, nothing else;
* `catalog-services-token`: the platform's programs that act as services (the pipelines;
  each stack service has its own token, `<service>-catalog-token`);
* `catalog-read-token`: the load balancer's renderer (reads services, nodes, KV);
* `catalog-dns-token`: set by the ACL Job as the agent's `dns` token, so DNS answers what
  it may read (services and nodes).

The ACL Job creates (or updates) one policy per purpose with the same rules as the local
stack's tokens, and each token with its Secret's value as its SecretID. Each service gets
a token of its own instead of the services' one, as a local instance does; with identity
on the server runs Connect, the load balancer gets one of its own too instead of the
read one, and the same Job writes the intentions (_consul_identity.py).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from leapfrog.components import kube as k
from leapfrog.runtime.kubernetes._consul_identity import (
    LB,
    connect_hcl,
    identity_grants,
    intentions_script,
    service_token_env,
    service_token_secret,
    service_tokens_script,
)
from leapfrog.spec import CatalogSettings, StackSpec

__all__ = ["CATALOG", "TOKEN_SECRET", "catalog_reader_env", "render_catalog"]

CATALOG = "catalog"
TOKEN_SECRET = "catalog-token"
"""The management token's Secret."""
HTTP_PORT = 8500
DNS_PORT = 8600
_UID = 100  # consul in the official image
_DATA = "/consul/data"


def _rules(levels: Mapping[str, str]) -> str:
    """Consul rules giving each `<resource>_prefix ""` its level, in Consul's JSON form
    (its rule parser reads JSON as HCL): the shape of the local stack's tokens file."""
    rules = {f"{res}_prefix": {"": {"policy": lvl}} for res, lvl in levels.items()}
    return json.dumps(rules, separators=(",", ":"))


@dataclass(frozen=True)
class _Purpose:
    """A token for one kind of caller: its policy's rules, `{resource: level}` for
    Consul's `<resource>_prefix ""`, the same as the local stack's token of that name."""

    name: str
    description: str
    levels: Mapping[str, str]

    @property
    def policy(self) -> str:
        return f"leapfrog-{self.name}"

    @property
    def env(self) -> str:
        return f"{self.name.upper()}_TOKEN"


_PURPOSES = (
    # Consul's `dns` agent token: what DNS lookups may see (`dig kafka.service.consul`).
    _Purpose("dns", "DNS lookups", {"service": "read", "node": "read"}),
    # The load balancer follows the catalog: it only reads.
    _Purpose(
        "read",
        "components that read the catalog (the load balancer)",
        {"service": "read", "node": "read", "key": "read"},
    ),
    # Services register themselves, heartbeat, discover, use KV and locks; they may not
    # change the node or the agent, nor manage ACL.
    _Purpose(
        "services",
        "the services of the stack",
        {"service": "write", "node": "read", "key": "write", "session": "write", "agent": "read"},
    ),
)

_ANONYMOUS = "00000000-0000-0000-0000-000000000002"
_ANONYMOUS_POLICY = "anonymous-read"
_ANONYMOUS_LEVELS = {"service": "read", "node": "read", "key": "read", "agent": "read"}


def _token_secret(purpose: str) -> str:
    """The Secret holding the token of `purpose` (dns, read, services)."""
    return f"{CATALOG}-{purpose}-token"


def _job_script(spec: StackSpec) -> str:
    """The catalog Job's script: ACL and the services' own tokens (with `catalog.acl`),
    then the intentions (with identity on). Idempotent; the Job runs again on each
    change."""
    identity = spec.identity_on
    lines = ["set -eu"]
    if spec.catalog.acl:
        lines += _acl_lines(spec.catalog.anonymous_read)
        lines += service_tokens_script(identity_grants(spec))
    else:
        lines.append(
            "until consul config list -kind service-intentions >/dev/null 2>&1; do sleep 2; done"
        )
    if identity:
        lines += intentions_script(spec)
    return "\n".join(lines) + "\n"


def _acl_lines(anonymous_read: bool) -> list[str]:
    """A policy is created or updated to these rules, a token is created only when its
    secret is not one Consul knows yet."""
    lines = [
        # The leader has bootstrapped ACL once the management token may list policies.
        "until consul acl policy list >/dev/null 2>&1; do sleep 2; done",
        'policy() { consul acl policy create -name "$1" -description "$2" -rules "$3" '
        '>/dev/null 2>&1 || consul acl policy update -name "$1" -rules "$3" >/dev/null; }',
        # A token may always read itself: then it exists and is kept (its policy is the
        # one updated above).
        'token() { CONSUL_HTTP_TOKEN="$2" consul acl token read -self >/dev/null 2>&1 '
        '|| consul acl token create -secret "$2" -policy-name "$1" -description "$3" '
        ">/dev/null; }",
    ]
    for p in _PURPOSES:
        description = shlex.quote(f"leapfrog: {p.description}")
        lines.append(f"policy {p.policy} {description} {shlex.quote(_rules(p.levels))}")
        lines.append(f'token {p.policy} "${p.env}" {description}')
    # From stdin, so the secret is on no command line; kept across restarts by
    # enable_token_persistence.
    dns = next(p for p in _PURPOSES if p.name == "dns")
    lines.append(f'printf %s "${dns.env}" | consul acl set-agent-token dns - >/dev/null')
    name = _ANONYMOUS_POLICY
    if anonymous_read:
        rules = shlex.quote(_rules(_ANONYMOUS_LEVELS))
        lines.append(f"policy {name} 'leapfrog: anonymous reads (anonymous_read)' {rules}")
        lines.append(
            f"consul acl token update -accessor-id {_ANONYMOUS} -policy-name {name} >/dev/null"
        )
    else:
        # Turning the opt-in off takes the read access away again.
        lines.append(
            f"if consul acl policy read -name {name} >/dev/null 2>&1; "
            f"then consul acl policy delete -name {name} >/dev/null; fi"
        )
    return lines


def _acl_job(spec: StackSpec, kube: k.KubeContext) -> k.Manifest:
    """Policies and tokens per purpose, and the intentions with identity on, made with
    the management token: the one pod besides the server that mounts it."""
    env = [{"name": "CONSUL_HTTP_ADDR", "value": f"{CATALOG}.{kube.namespace}.svc:{HTTP_PORT}"}]
    if spec.catalog.acl:
        env += [
            k.secret_env("CONSUL_HTTP_TOKEN", TOKEN_SECRET, "token"),
            *(k.secret_env(p.env, _token_secret(p.name), "token") for p in _PURPOSES),
        ]
        env += [
            k.secret_env(service_token_env(name), service_token_secret(name), "token")
            for name in identity_grants(spec)
        ]
    container = {
        "name": "acl",
        "image": kube.image("consul"),
        "command": ["sh", "-c", _job_script(spec)],
        "env": env,
        "securityContext": k.container_security(),
        "resources": k.resources("50m", "64Mi"),
    }
    pod = {
        "securityContext": k.pod_security(_UID, 1000),
        "automountServiceAccountToken": False,
        "containers": [container],
    }
    return k.job(kube, f"{CATALOG}-acl", pod)


def _acl_hcl() -> str:
    return (
        'acl { enabled = true default_policy = "deny" enable_token_persistence = true '
        'tokens { initial_management = "$(CONSUL_MANAGEMENT_TOKEN)" } }'
    )


def _container(spec: StackSpec, kube: k.KubeContext) -> dict[str, Any]:
    settings = spec.catalog
    args = [
        "agent",
        "-server",
        "-bootstrap-expect=1",
        "-ui",
        "-client=0.0.0.0",
        f"-datacenter={settings.datacenter}",
        f"-data-dir={_DATA}",
        f"-dns-port={DNS_PORT}",
        "-log-level=info",
    ]
    env: list[dict[str, Any]] = [
        # The image's entrypoint would chown the data folder: not allowed without root.
        {"name": "CONSUL_DISABLE_PERM_MGMT", "value": "true"},
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
    ]
    args.append("-bind=$(POD_IP)")
    if settings.acl:
        env.append(k.secret_env("CONSUL_MANAGEMENT_TOKEN", TOKEN_SECRET, "token"))
        args.append(f"-hcl={_acl_hcl()}")
    if spec.identity is not None and spec.identity_on:
        args.append(f"-hcl={connect_hcl(spec.identity)}")
    probe = {"httpGet": {"path": "/v1/status/leader", "port": HTTP_PORT}}
    return {
        "name": "consul",
        "image": kube.image("consul"),
        "args": args,
        "env": env,
        "ports": [
            {"name": "http", "containerPort": HTTP_PORT},
            {"name": "dns-tcp", "containerPort": DNS_PORT, "protocol": "TCP"},
            {"name": "dns-udp", "containerPort": DNS_PORT, "protocol": "UDP"},
            {"name": "server", "containerPort": 8300},
        ],
        "readinessProbe": {**probe, "periodSeconds": 5},
        "livenessProbe": {**probe, "periodSeconds": 10, "failureThreshold": 6},
        "startupProbe": {**probe, "periodSeconds": 2, "failureThreshold": 60},
        "securityContext": k.container_security(),
        "resources": k.resources("100m", "256Mi"),
        "volumeMounts": [
            {"name": "data", "mountPath": _DATA},
            {"name": "config", "mountPath": "/consul/config"},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }


def render_catalog(spec: StackSpec, kube: k.KubeContext) -> k.KubeRender:
    settings = spec.catalog
    pod = {
        "securityContext": k.pod_security(_UID, 1000),
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": 30,
        "containers": [_container(spec, kube)],
        "volumes": [{"name": "config", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}],
    }
    http = {"http": HTTP_PORT}
    dns = {"dns-tcp": (53, DNS_PORT, "TCP"), "dns-udp": (53, DNS_PORT, "UDP")}
    objects = [
        k.service(kube, f"{CATALOG}-server", CATALOG, "catalog", http, headless=True),
        k.service(kube, CATALOG, CATALOG, "catalog", http),
        k.service(kube, f"{CATALOG}-dns", CATALOG, "catalog", dns),
        k.service(kube, f"{CATALOG}-ui", CATALOG, "catalog", {"http": (80, HTTP_PORT, "TCP")}),
        k.stateful_set(
            kube,
            CATALOG,
            "catalog",
            None,
            pod=pod,
            storage=("catalog", "1Gi"),
            service_name=f"{CATALOG}-server",
        ),
    ]
    if settings.acl or spec.identity_on:
        objects.append(_acl_job(spec, kube))
    return k.KubeRender(
        objects,
        _env(settings, kube, "services"),
        _secrets(spec),
        ports={"http": HTTP_PORT, "dns": DNS_PORT},
    )


def _secrets(spec: StackSpec) -> list[k.KubeSecret]:
    if not spec.catalog.acl:
        return []
    names = [TOKEN_SECRET, *(_token_secret(p.name) for p in _PURPOSES)]
    names += [service_token_secret(name) for name in identity_grants(spec)]
    return [k.KubeSecret(name, CATALOG, {"token": "uuid"}) for name in names]


def _env(
    settings: CatalogSettings, kube: k.KubeContext, purpose: str, secret: str | None = None
) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": "CONSUL_HTTP_ADDR", "value": f"{CATALOG}.{kube.namespace}.svc:{HTTP_PORT}"},
        {"name": "LEAPFROG_CATALOG_DNS", "value": f"{CATALOG}-dns.{kube.namespace}.svc:53"},
    ]
    if settings.acl:
        env.append(k.secret_env("CONSUL_HTTP_TOKEN", secret or _token_secret(purpose), "token"))
    return env


def catalog_reader_env(spec: StackSpec, kube: k.KubeContext) -> list[dict[str, Any]]:
    """How a platform part that reads the catalog (the load balancer) reaches it: with
    the read-only token, or with identity on the load balancer's own (it reads as much,
    and may fetch the `lb` certificate)."""
    secret = service_token_secret(LB) if LB in identity_grants(spec) else None
    return _env(spec.catalog, kube, "read", secret)
