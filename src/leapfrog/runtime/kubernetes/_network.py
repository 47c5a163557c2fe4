"""NetworkPolicies: nothing reaches a pod of the stack unless the stack file says so.

* the namespace denies all ingress by default;
* a platform part (catalog, kafka, postgres, ...) accepts the stack's own pods;
* a service accepts its declared callers (`callers:`, or else the services that depend on
  it and `allow_from`),
  the catalog (its health checks) and the load balancer, and may itself reach only DNS,
  the platform parts and the services it depends on.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from leapfrog.components import kube as k
from leapfrog.runtime.kubernetes._service import pods_of
from leapfrog.spec import StackSpec, callers_of

__all__ = ["render_network"]

_DNS = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]


def _policy(kube: k.KubeContext, name: str, app: str, spec: dict[str, Any]) -> k.Manifest:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": kube.meta(name, "network", app=app),
        "spec": spec,
    }


def _pods(kube: k.KubeContext, *names: str, services: Collection[str] = ()) -> list[dict[str, Any]]:
    """Peers by name: a platform part's pods, or a service's (`services`: its canary's
    too)."""
    return [
        {"podSelector": {"matchLabels": pods_of(kube, n) if n in services else kube.selector(n)}}
        for n in names
    ]


def render_network(
    spec: StackSpec, kube: k.KubeContext, platform: Mapping[str, Mapping[str, int]]
) -> list[k.Manifest]:
    """`platform`: each platform part present (catalog, kafka, ...) with its ports."""
    stack_pods = {"podSelector": {"matchLabels": {"app.kubernetes.io/part-of": kube.stack}}}
    objects = [
        _policy(
            kube,
            "default-deny",
            "default-deny",
            {"podSelector": {}, "policyTypes": ["Ingress"]},
        )
    ]
    for part in platform:
        if part == "lb":
            # The way in: anyone may reach the load balancer.
            objects.append(
                _policy(
                    kube,
                    "lb-ingress",
                    "lb",
                    {
                        "podSelector": {"matchLabels": kube.selector("lb")},
                        "policyTypes": ["Ingress"],
                        "ingress": [{}],
                    },
                )
            )
            continue
        objects.append(
            _policy(
                kube,
                f"{part}-ingress",
                part,
                {
                    "podSelector": {"matchLabels": kube.selector(part)},
                    "policyTypes": ["Ingress"],
                    "ingress": [{"from": [stack_pods]}],
                },
            )
        )
    objects += [_service_policy(name, spec, kube, platform) for name in spec.services]
    return objects


def _service_policy(
    name: str, spec: StackSpec, kube: k.KubeContext, platform: Mapping[str, Mapping[str, int]]
) -> k.Manifest:
    service = spec.services[name]
    callers = callers_of(spec.services, name)
    sources = _pods(kube, *callers, services=spec.services) + _pods(
        kube, *(p for p in ("catalog", "lb") if p in platform)
    )
    ingress: list[dict[str, Any]] = []
    if sources and service.port is not None:
        ingress.append({"from": sources, "ports": [{"protocol": "TCP", "port": service.port}]})
    egress: list[dict[str, Any]] = [{"ports": _DNS}]
    for part, ports in platform.items():
        if part == "lb":
            continue
        wanted = [{"protocol": "TCP", "port": p} for p in ports.values()]
        egress.append({"to": _pods(kube, part), "ports": wanted})
    for target in service.depends_on:
        dependency = spec.services.get(target)
        if dependency is not None and dependency.port is not None:
            egress.append(
                {
                    "to": _pods(kube, target, services=spec.services),
                    "ports": [{"protocol": "TCP", "port": dependency.port}],
                }
            )
    return _policy(
        kube,
        name,
        name,
        {
            "podSelector": {"matchLabels": pods_of(kube, name)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": ingress,
            "egress": egress,
        },
    )
