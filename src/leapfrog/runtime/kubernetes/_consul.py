"""The catalog on Kubernetes: a real HashiCorp Consul server (one replica, UI on), which
the SDK and the load balancer's renderer talk to exactly as to the local catalog.

With `catalog.acl` the management token is a generated Secret (created at apply time);
Kubernetes puts it into the server's `-hcl` argument through `$(VAR)` expansion, so it
is never in a manifest or on a command line that a file holds.
"""

from __future__ import annotations

from typing import Any

from leapfrog.components import kube as k
from leapfrog.spec import CatalogSettings

__all__ = ["CATALOG", "TOKEN_SECRET", "render_catalog"]

CATALOG = "catalog"
TOKEN_SECRET = "catalog-token"
HTTP_PORT = 8500
DNS_PORT = 8600
_UID = 100  # consul in the official image
_DATA = "/consul/data"


_ANONYMOUS = "00000000-0000-0000-0000-000000000002"
_READ_RULES = (
    'service_prefix "" { policy = "read" } node_prefix "" { policy = "read" } '
    'key_prefix "" { policy = "read" } agent_prefix "" { policy = "read" }'
)


def _acl_hcl() -> str:
    return (
        'acl { enabled = true default_policy = "deny" enable_token_persistence = true '
        'tokens { initial_management = "$(CONSUL_MANAGEMENT_TOKEN)" } }'
    )


def _anonymous_read_job(kube: k.KubeContext) -> k.Manifest:
    """Reads without a token, as the local catalog's `anonymous_read`: a read-only policy
    on Consul's anonymous token (create, or update when it exists: idempotent)."""
    rules = _READ_RULES.replace('"', '\\"')
    script = (
        "set -e\n"
        "until consul acl policy list >/dev/null; do sleep 2; done\n"
        f'consul acl policy create -name anonymous-read -rules "{rules}" >/dev/null '
        f'|| consul acl policy update -name anonymous-read -rules "{rules}" >/dev/null\n'
        f"consul acl token update -accessor-id {_ANONYMOUS} -policy-name anonymous-read "
        ">/dev/null\n"
    )
    container = {
        "name": "anonymous-read",
        "image": kube.image("consul"),
        "command": ["sh", "-c", script],
        "env": [
            {"name": "CONSUL_HTTP_ADDR", "value": f"{CATALOG}.{kube.namespace}.svc:{HTTP_PORT}"},
            k.secret_env("CONSUL_HTTP_TOKEN", TOKEN_SECRET, "token"),
        ],
        "securityContext": k.container_security(),
        "resources": k.resources("50m", "64Mi"),
    }
    pod = {
        "securityContext": k.pod_security(_UID, 1000),
        "automountServiceAccountToken": False,
        "containers": [container],
    }
    return k.job(kube, f"{CATALOG}-acl", pod)


def _container(settings: CatalogSettings, kube: k.KubeContext) -> dict[str, Any]:
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


def render_catalog(settings: CatalogSettings, kube: k.KubeContext) -> k.KubeRender:
    pod = {
        "securityContext": k.pod_security(_UID, 1000),
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": 30,
        "containers": [_container(settings, kube)],
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
    env: list[dict[str, Any]] = [
        {"name": "CONSUL_HTTP_ADDR", "value": f"{CATALOG}.{kube.namespace}.svc:{HTTP_PORT}"},
        {"name": "LEAPFROG_CATALOG_DNS", "value": f"{CATALOG}-dns.{kube.namespace}.svc:53"},
    ]
    secrets = []
    if settings.acl and settings.anonymous_read:
        objects.append(_anonymous_read_job(kube))
    if settings.acl:
        env.append(k.secret_env("CONSUL_HTTP_TOKEN", TOKEN_SECRET, "token"))
        secrets.append(k.KubeSecret(TOKEN_SECRET, CATALOG, {"token": "uuid"}))
    return k.KubeRender(objects, env, secrets, ports={"http": HTTP_PORT, "dns": DNS_PORT})
