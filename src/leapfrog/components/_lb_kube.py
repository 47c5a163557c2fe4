"""The load balancer on Kubernetes: the official HAProxy image, and beside it in the
same pod leapfrog's template renderer (`leapfrog template`, the leapfrog image) watching
Consul, writing haproxy.cfg into a shared volume and reloading HAProxy through its
master socket after each change - the seed's design.

The template is leapfrog's default HAProxy template (or the stack's own), put in a
ConfigMap with the values `leapfrog lb run` gives it locally set at its top. With
service identity on, the renderer reads Consul with the lb's own token and fetches the
`lb` leaf certificate with it, which HAProxy presents to the routed services.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import leapfrog
from leapfrog.components import kube as k
from leapfrog.components.base import from_stack_dir
from leapfrog.shared.errors import LeapfrogError

__all__ = ["render_lb"]

NAME = "lb"
_UID = 99  # haproxy in the official image
_RUN = "/run/lb"
_RELOAD = (
    'python3 -c "import socket; s = socket.socket(socket.AF_UNIX); '
    f"s.connect('{_RUN}/master.sock'); s.sendall(b'reload\\n'); s.recv(4096)\""
)
_LOG_FORMAT = "%ci %ST %B %Ta %b %s %HM %HU"


def _template(own: Path | None, listen: int, stats: int, threads: int, identity: bool) -> str:
    if own:
        text = own.read_text(encoding="utf-8")
    else:
        # Read as data (the lb package is a layer above components): the same file
        # `leapfrog lb run` renders locally.
        text = (Path(leapfrog.__file__).parent / "lb/templates/haproxy.cfg.j2").read_text()
    values = {
        "listen": f":{listen}",
        "stats": f":{stats}",
        "run_dir": _RUN,
        "admin_socket": f"{_RUN}/admin.sock",
        "log_socket": "stdout",
        "haproxy_log_format": _LOG_FORMAT,
        "engine": "haproxy",
        "user": "",
        "access_log": True,  # to stdout, where the cluster collects container logs
        "threads": threads,
        # With identity on, HAProxy presents the `lb` certificate to the services that
        # serve mutual TLS: the renderer fetches it with the lb's own token and writes
        # it (and the CA roots) under /run/lb/mesh, which HAProxy's container reads.
        "identity": NAME if identity else "",
    }
    return "{%- set lb = " + json.dumps(values) + " %}\n" + text


def _ports(options: Any) -> tuple[int, int]:
    return int(options.listen.rpartition(":")[2]), int(options.stats.rpartition(":")[2])


def render_lb(options: Any, kube: k.KubeContext) -> k.KubeRender:
    """`options`: the lb component's options (LoadBalancerOptions)."""
    if options.engine != "haproxy":
        raise LeapfrogError(
            f"components.lb.engine: {options.engine} is not rendered to Kubernetes",
            hint="use engine: haproxy (the default) for Kubernetes",
        )
    listen, stats = _ports(options)
    config = f"{_RUN}/haproxy.cfg"
    # The master socket group-writable: the renderer runs as another user of the pod's
    # group (fsGroup), and connecting to a unix socket takes write permission on it.
    start = (
        f"until [ -s {config} ]; do sleep 0.2; done; "
        f"exec haproxy -W -db -S {_RUN}/master.sock,mode,660 -f {config}"
    )
    health = {"httpGet": {"path": "/health", "port": stats}}
    shared = [{"name": "run", "mountPath": _RUN}, {"name": "tmp", "mountPath": "/tmp"}]
    haproxy = {
        "name": "haproxy",
        "image": kube.image("haproxy"),
        "command": ["sh", "-c", start],
        "ports": [
            {"name": "http", "containerPort": listen},
            {"name": "stats", "containerPort": stats},
        ],
        "readinessProbe": {**health, "periodSeconds": 2},
        "livenessProbe": {**health, "periodSeconds": 10, "failureThreshold": 6},
        "startupProbe": {**health, "periodSeconds": 1, "failureThreshold": 120},
        # Let the catalog-driven renderer drop this pod's traffic before HAProxy stops.
        "lifecycle": {"preStop": {"sleep": {"seconds": 2}}},
        "securityContext": k.container_security(),
        "resources": k.resources("100m", "128Mi"),
        "volumeMounts": shared,
    }
    job = f"/etc/leapfrog/lb/haproxy.cfg.j2:{config}:{_RELOAD}"
    renderer = {
        "name": "renderer",
        "image": kube.image("leapfrog"),
        "command": ["leapfrog", "template", "-t", job, "--wait", options.wait],
        "env": [*kube.catalog_env, {"name": "HOME", "value": "/tmp"}],
        "securityContext": {**k.container_security(), "runAsUser": 10001},
        "resources": k.resources("50m", "96Mi"),
        "volumeMounts": [
            *shared,
            {"name": "template", "mountPath": "/etc/leapfrog/lb", "readOnly": True},
        ],
    }
    pod: dict[str, Any] = {
        "securityContext": k.pod_security(_UID),
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": 30,
        "containers": [haproxy, renderer],
        "volumes": [
            {"name": "run", "emptyDir": {}},
            {"name": "tmp", "emptyDir": {}},
            {"name": "template", "configMap": {"name": f"{NAME}-template"}},
        ],
    }
    waiting = k.catalog_token_wait(kube, list(kube.catalog_env))
    if waiting is not None:
        pod["initContainers"] = [waiting]
    labels = kube.labels(NAME, "load-balancer")
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": kube.meta(NAME, "load-balancer"),
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": kube.selector(NAME)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {"metadata": {"labels": labels}, "spec": pod},
        },
    }
    own = from_stack_dir(options.template, kube.stack_dir) if options.template else None
    template = _template(own, listen, stats, options.threads, kube.identity)
    objects = [
        k.config_map(kube, f"{NAME}-template", NAME, {"haproxy.cfg.j2": template}),
        k.service(kube, NAME, NAME, "load-balancer", {"http": (80, listen, "TCP")}),
        deployment,
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": kube.meta(NAME, "load-balancer"),
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": kube.selector(NAME)}},
        },
    ]
    url = f"http://{NAME}.{kube.namespace}.svc"
    return k.KubeRender(objects, [{"name": "LEAPFROG_LB_URL", "value": url}], ports={})
