"""One of the team's services on Kubernetes: a Deployment rolling one new pod at a time
with none unavailable (a StatefulSet when it uses a per-instance volume: a claim per pod
from its volumeClaimTemplates), its Service, a PodDisruptionBudget, an HPA when it
autoscales, and a ServiceAccount of its own (the NetworkPolicy is in `_network`; shared
volumes' claims in `render_volumes`)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from leapfrog.components import kube as k
from leapfrog.runtime.kubernetes._revisions import CHANGE_CAUSE
from leapfrog.runtime.kubernetes._set_canary import DEADLINE
from leapfrog.spec import CheckSpec, ServiceSpec, StackSpec, VolumeSpec
from leapfrog.spec._volumes import volume_env_name

__all__ = ["container_image", "kube_text", "pods_of", "render_service", "render_volumes"]

DEFAULT_VOLUME_SIZE = "1Gi"
"""A claim's request when the volume declares no size."""
_BUILTIN = {"tmp": "/tmp", "data": "/data"}
"""The pod's own scratch folders (emptyDir): a named volume of the same name or mount
path takes the name or the place."""

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def kube_text(text: str) -> str:
    """`${VAR}` as written in the stack file becomes Kubernetes' `$(VAR)`; `$$` stays an
    escaped `$` in both."""
    return _VAR.sub(lambda m: "$$" if m.group(0) == "$$" else f"$({m.group(1)})", text)


def container_image(service: ServiceSpec) -> str:
    """`image`, tagged with `version` when it names no tag or digest of its own."""
    image = service.image or ""
    last = image.rsplit("/", 1)[-1]
    if service.version and ":" not in last and "@" not in last:
        return f"{image}:{service.version}"
    return image


def pods_of(kube: k.KubeContext, name: str) -> dict[str, str]:
    """The labels that pick every pod of service `name`, its canary's too: what its
    Service, PodDisruptionBudget and NetworkPolicies select. Not the Deployment's selector
    (`kube.selector`, name and part-of, immutable), which a canary's pods do not match
    (their name is NAME-canary, `_canary.py`); every pod of the service carries its
    `instance` label, those made before canaries existed too."""
    return {
        "app.kubernetes.io/instance": f"{kube.stack}-{name}",
        "app.kubernetes.io/part-of": kube.stack,
    }


def _seconds(value: float) -> int:
    return max(1, math.ceil(value))


def _probe(check: CheckSpec, port: int | None, tls: bool) -> dict[str, Any]:
    if check.kind == "http":
        get: dict[str, Any] = {"path": check.http, "port": port}
        if tls:
            # With identity on the SDK serves mutual TLS, its /health open without a
            # client certificate; the kubelet does not verify the server's.
            get["scheme"] = "HTTPS"
        return {"httpGet": get}
    if check.kind == "tcp":
        return {"tcpSocket": {"port": port}}
    return {"exec": {"command": [kube_text(a) for a in check.exec or []]}}


def _probes(service: ServiceSpec, tls: bool) -> dict[str, Any]:
    check = service.check
    if check is None:
        return {}
    action = _probe(check, service.port, tls)
    timing = {"timeoutSeconds": _seconds(check.timeout), "periodSeconds": _seconds(check.interval)}
    start_period = 1
    return {
        "readinessProbe": {**action, **timing, "failureThreshold": check.retries},
        "livenessProbe": {**action, **timing, "failureThreshold": check.retries + 3},
        "startupProbe": {
            **action,
            "timeoutSeconds": timing["timeoutSeconds"],
            "periodSeconds": start_period,
            "failureThreshold": max(1, math.ceil(check.start_timeout / start_period)),
        },
    }


def _env(
    name: str, service: ServiceSpec, kube: k.KubeContext, platform: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    def field(path: str) -> dict[str, Any]:
        return {"valueFrom": {"fieldRef": {"fieldPath": path}}}

    env: list[dict[str, Any]] = [
        {"name": "LEAPFROG_STACK", "value": kube.stack},
        {"name": "LEAPFROG_SERVICE", "value": name},
        {"name": "LEAPFROG_INSTANCE", **field("metadata.name")},
        {"name": "POD_IP", **field("status.podIP")},
        {"name": "HOST", "value": "0.0.0.0"},
        {"name": "LEAPFROG_DRAIN", "value": str(service.drain_time)},
        {"name": "LEAPFROG_DATA_DIR", "value": "/data"},
        # Locally leapfrog's own interpreter; in an image, its python.
        {"name": "LEAPFROG_PYTHON", "value": "python3"},
    ]
    if service.port is not None:
        env.append({"name": "PORT", "value": str(service.port)})
    if service.version is not None:
        env.append({"name": "LEAPFROG_VERSION", "value": service.version})
    route = service.route
    if route is not None:
        if route.path is not None:
            env.append({"name": "LEAPFROG_ROUTE_PATH", "value": route.path})
        if route.host is not None:
            env.append({"name": "LEAPFROG_ROUTE_HOST", "value": route.host})
        strip = "true" if route.strip_prefix else "false"
        env.append({"name": "LEAPFROG_ROUTE_STRIP_PREFIX", "value": strip})
    env += platform
    env += [{"name": volume_env_name(u.name), "value": u.mount_path} for u in service.volumes]
    # The stack file's own env comes last and wins, as locally.
    own = [{"name": key, "value": kube_text(value)} for key, value in service.env.items()]
    return [e for e in env if e["name"] not in service.env] + own


def _volumes(
    service: ServiceSpec, volumes: Mapping[str, VolumeSpec]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The pod's volumes and the container's mounts: the scratch folders, then each named
    volume (a per-instance one comes from the StatefulSet's claim templates)."""
    taken_names = {u.name for u in service.volumes}
    taken_paths = {u.mount_path for u in service.volumes}
    pod: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    for short, path in _BUILTIN.items():
        if path in taken_paths:
            continue  # the named volume is mounted there instead
        own = f"leapfrog-{short}" if short in taken_names else short
        pod.append({"name": own, "emptyDir": {}})
        mounts.append({"name": own, "mountPath": path})
    for use in service.volumes:
        mounts.append({"name": use.name, "mountPath": use.mount_path})
        if volumes[use.name].scope == "shared":
            pod.append({"name": use.name, "persistentVolumeClaim": {"claimName": use.name}})
    return pod, mounts


def _pod(
    name: str,
    service: ServiceSpec,
    kube: k.KubeContext,
    platform: list[dict[str, Any]],
    volumes: Mapping[str, VolumeSpec],
    *,
    tls: bool = False,
) -> dict[str, Any]:
    res = service.resources
    pod_volumes, mounts = _volumes(service, volumes)
    container: dict[str, Any] = {
        "name": name,
        "image": container_image(service),
        "command": [kube_text(a) for a in service.command],
        "env": _env(name, service, kube, platform),
        "securityContext": k.container_security(),
        "resources": k.resources(res.cpu, res.memory, res.cpu_limit, res.memory_limit),
        "volumeMounts": mounts,
        **_probes(service, tls),
    }
    if service.port is not None:
        container["ports"] = [{"name": "http", "containerPort": service.port}]
    if service.drain_time > 0:
        # Keep serving while the catalog and the load balancer forget this pod; the native
        # sleep action needs no `sleep` binary in the image.
        container["lifecycle"] = {"preStop": {"sleep": {"seconds": _seconds(service.drain_time)}}}
    pod: dict[str, Any] = {
        "serviceAccountName": name,
        "automountServiceAccountToken": False,
        "securityContext": k.pod_security(10001),
        "terminationGracePeriodSeconds": _seconds(service.stop_grace_period),
        "containers": [container],
        "volumes": pod_volumes,
    }
    waiting = k.catalog_token_wait(kube, container["env"])
    if waiting is not None:
        pod["initContainers"] = [waiting]
    return pod


def _claim_spec(volume: VolumeSpec, kube: k.KubeContext, mode: str) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "accessModes": [mode],
        "resources": {"requests": {"storage": _quantity(volume.size)}},
    }
    if kube.storage_class:
        spec["storageClassName"] = kube.storage_class
    return spec


def _quantity(size: int | None) -> str:
    if size is None:
        return DEFAULT_VOLUME_SIZE
    for unit, factor in (("Ti", 1024**4), ("Gi", 1024**3), ("Mi", 1024**2), ("Ki", 1024)):
        if size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)


def render_volumes(spec: StackSpec, kube: k.KubeContext) -> list[k.Manifest]:
    """A claim per shared volume a service uses, named as the volume: ReadWriteMany when
    more than one pod may mount it (replicas, autoscale, or several services), else
    ReadWriteOnce. Per-instance volumes are the StatefulSets' claim templates."""
    claims = []
    for name, volume in spec.volumes.items():
        users = [s for s in spec.services.values() if any(u.name == name for u in s.volumes)]
        if volume.scope != "shared" or not users:
            continue
        pods = sum(s.autoscale.max if s.autoscale else s.replicas for s in users)
        mode = "ReadWriteMany" if pods > 1 or len(users) > 1 else "ReadWriteOnce"
        claims.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": kube.meta(name, "volume"),
                "spec": _claim_spec(volume, kube, mode),
            }
        )
    return claims


def render_service(
    name: str,
    service: ServiceSpec,
    kube: k.KubeContext,
    platform: list[dict[str, Any]],
    volumes: Mapping[str, VolumeSpec] | None = None,
    *,
    tls: bool = False,
) -> list[k.Manifest]:
    """`tls`: the service serves (mutual) TLS, identity being on; its HTTP probes use
    HTTPS."""
    volumes = volumes or {}
    labels = kube.labels(name, "service", service.version)
    own = [u.name for u in service.volumes if volumes[u.name].scope == "instance"]
    template = {
        "metadata": {"labels": labels},
        "spec": _pod(name, service, kube, platform, volumes, tls=tls),
    }
    workload: k.Manifest
    if own:
        # A claim per pod that stays with its ordinal (data-web-0, data-web-1) through
        # rollouts and rescheduling; StatefulSets replace pods one at a time.
        # The controller copies the cause to each ControllerRevision.
        # A StatefulSet has no progress deadline of its own to judge a rollout (or its
        # canary) by: `apply --wait` and `rollout status` read it here (_set_canary.py).
        annotations = {
            CHANGE_CAUSE: "leapfrog apply",
            DEADLINE: str(math.ceil(service.rollout.progress_deadline)),
        }
        strategy: dict[str, Any] = {"type": "RollingUpdate"}
        if service.rollout.canary:
            # The canary is a partition, which `leapfrog apply` sets (_set_canary.py).
            strategy["rollingUpdate"] = {"partition": 0}
        workload = {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": kube.meta(name, "service", service.version) | {"annotations": annotations},
            "spec": {
                "serviceName": name,
                "selector": {"matchLabels": kube.selector(name)},
                "podManagementPolicy": "Parallel",
                "updateStrategy": strategy,
                "persistentVolumeClaimRetentionPolicy": {
                    "whenDeleted": "Retain",
                    "whenScaled": "Retain",
                },
                "revisionHistoryLimit": 5,
                "template": template,
                "volumeClaimTemplates": [
                    {
                        "metadata": {
                            "name": v,
                            "labels": kube.labels(v, "volume") | {"leapfrog.dev/service": name},
                        },
                        "spec": _claim_spec(volumes[v], kube, "ReadWriteOnce"),
                    }
                    for v in own
                ],
            },
        }
    else:
        workload = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            # The controller copies the cause to each revision's ReplicaSet (`leapfrog
            # rollout history`); an undo sets its own, which the next apply takes back.
            "metadata": kube.meta(name, "service", service.version)
            | {"annotations": {CHANGE_CAUSE: "leapfrog apply"}},
            "spec": {
                "selector": {"matchLabels": kube.selector(name)},
                # The stack file's `rollout:` as a Deployment says it (auto_revert,
                # canary and promote_after are `leapfrog apply`'s: _canary.py, _wait.py).
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {
                        "maxUnavailable": service.rollout.max_unavailable,
                        "maxSurge": service.rollout.max_surge,
                    },
                },
                "minReadySeconds": math.ceil(service.rollout.min_ready),
                "progressDeadlineSeconds": max(
                    math.ceil(service.rollout.progress_deadline),
                    math.ceil(service.rollout.min_ready) + 1,
                ),
                "revisionHistoryLimit": 5,
                "template": template,
            },
        }
    deployment = workload
    if service.autoscale is None:
        # With an HPA, the HPA owns the replica count: apply must not reset it.
        deployment["spec"]["replicas"] = service.replicas
    objects = [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": kube.meta(name, "service"),
            "automountServiceAccountToken": False,
        },
        deployment,
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": kube.meta(name, "service"),
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": pods_of(kube, name)}},
        },
    ]
    if service.port is not None:
        endpoint = k.service(kube, name, name, "service", {"http": service.port})
        endpoint["spec"]["selector"] = pods_of(kube, name)
        objects.append(endpoint)
    if service.autoscale is not None:
        objects.append(_autoscaler(name, service, kube, workload["kind"]))
    return objects


def _autoscaler(name: str, service: ServiceSpec, kube: k.KubeContext, kind: str) -> k.Manifest:
    """A HorizontalPodAutoscaler v2 with the same targets and behavior as the supervisor's
    autoscaler. Requests per second and in flight are Pods metrics of the SDK's names,
    which the cluster serves through a custom-metrics adapter (prometheus-adapter)."""
    scale = service.autoscale
    assert scale is not None
    metrics: list[k.Manifest] = []
    if scale.cpu_percent is not None:
        target = {"type": "Utilization", "averageUtilization": scale.cpu_percent}
        metrics.append({"type": "Resource", "resource": {"name": "cpu", "target": target}})
    pods = (
        ("http_requests_per_second", scale.requests_per_second),
        ("http_requests_in_flight", scale.in_flight),
    )
    for metric, value in pods:
        if value is not None:
            average = {"type": "AverageValue", "averageValue": _metric_value(value)}
            metrics.append(
                {"type": "Pods", "pods": {"metric": {"name": metric}, "target": average}}
            )
    up, down = scale.scale_up, scale.scale_down
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": kube.meta(name, "service"),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": kind, "name": name},
            "minReplicas": scale.min,
            "maxReplicas": scale.max,
            "metrics": metrics,
            "behavior": {
                "scaleUp": _rules(up.stabilization, up.pods, up.percent, up.period),
                "scaleDown": _rules(down.stabilization, down.pods, down.percent, down.period),
            },
        },
    }


def _rules(
    stabilization: float, pods: int | None, percent: int | None, period: float
) -> k.Manifest:
    seconds = max(1, round(period))
    policies = [
        {"type": kind, "value": value, "periodSeconds": seconds}
        for kind, value in (("Pods", pods), ("Percent", percent))
        if value is not None
    ]
    return {
        "stabilizationWindowSeconds": round(stabilization),
        "selectPolicy": "Max",
        "policies": policies,
    }


def _metric_value(value: float) -> str:
    """A metric target as a Kubernetes quantity: whole numbers as they are, fractions in
    milli-units."""
    return str(int(value)) if value == int(value) else f"{round(value * 1000)}m"
