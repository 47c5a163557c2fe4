"""The whole stack as Kubernetes objects: namespace, catalog (Consul), each component
through its own `render_kubernetes` step, the load balancer, the services and their
NetworkPolicies; plus the generated Secrets that `apply` creates when absent."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from leapfrog import __version__
from leapfrog.components import component
from leapfrog.components import kube as k
from leapfrog.components._backup_options import BackupOptions
from leapfrog.components._backups_kube import backup_schedule
from leapfrog.components.base import NotSupported
from leapfrog.runtime.kubernetes._consul import catalog_reader_env, render_catalog
from leapfrog.runtime.kubernetes._consul_identity import pod_identity_env
from leapfrog.runtime.kubernetes._hostlogs import render_host_logs
from leapfrog.runtime.kubernetes._network import render_network
from leapfrog.runtime.kubernetes._refuse import refused
from leapfrog.runtime.kubernetes._secrets import secret_manifest
from leapfrog.runtime.kubernetes._service import render_service, render_volumes
from leapfrog.runtime.kubernetes.images._record import leapfrog_image
from leapfrog.shared.errors import LeapfrogError
from leapfrog.spec import Problem, RolloutSpec, SpecError, Stack, StackSpec

__all__ = ["Rendered", "apply_rank", "kube_context", "render_stack"]

ORDER = (
    "Namespace",
    "CustomResourceDefinition",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "Secret",
    "ConfigMap",
    "PersistentVolumeClaim",
    "Service",
    "StatefulSet",
    "DaemonSet",
    "Deployment",
    "Job",
    "PodDisruptionBudget",
    "HorizontalPodAutoscaler",
    "NetworkPolicy",
)
"""Apply order: what an object refers to exists before it. A custom resource (an
operator's, such as Flink's `FlinkDeployment`) goes with the Jobs, after the workloads,
in the order its component rendered it; a stack's own CRDs come right after the
Namespace."""


_CLAIMS = "volume-claims"
"""The part of the shared volumes' claims."""


def apply_rank(obj: k.Manifest) -> int:
    kind = obj["kind"]
    return ORDER.index(kind) if kind in ORDER else ORDER.index("Job")


@dataclass(frozen=True)
class Rendered:
    namespace: str
    objects: list[k.Manifest]
    """Everything to apply, in apply order; Secrets only when the stack writes them."""
    secrets: list[k.KubeSecret] = field(default_factory=list)
    """Generated Secrets `apply` creates when absent (not in `objects`)."""
    parts: dict[str, list[k.Manifest]] = field(default_factory=dict)
    """The same objects by part (namespace, catalog, kafka, <service>...), for `-o DIR`."""
    rollouts: dict[str, RolloutSpec] = field(default_factory=dict)
    """Each service's Deployment or StatefulSet (by name) with its `rollout:`: what
    `leapfrog apply` does beyond applying it (a canary, auto_revert, promote_after;
    _canary.py, _set_canary.py, _wait.py)."""


def kube_context(stack: Stack) -> k.KubeContext:
    settings = stack.spec.kubernetes
    return k.KubeContext(
        namespace=settings.namespace or stack.name,
        stack=stack.name,
        images=settings.images,
        storage_class=settings.storage_class,
        storage=settings.storage,
        leapfrog_version=__version__,
        leapfrog_image=leapfrog_image().reference,
        stack_dir=stack.base_dir,
    )


def render_stack(stack: Stack) -> Rendered:
    """Raises SpecError naming each stack-file field that has no meaning on Kubernetes."""
    problems = refused(stack)
    if problems:
        raise SpecError(problems, _source(stack))
    spec = stack.spec
    kube = kube_context(stack)
    parts: dict[str, list[k.Manifest]] = {"namespace": [_namespace(kube)]}
    secrets: list[k.KubeSecret] = []
    platform_env: list[dict[str, Any]] = []
    ports: dict[str, Mapping[str, int]] = {}
    pieces: list[tuple[str, k.KubeRender]] = []
    schedules: list[k.Manifest] = []
    if spec.catalog.enabled:
        catalog = render_catalog(spec, kube)
        pieces.append(("catalog", catalog))
        # The load balancer reads the catalog with the read-only token, not the services'
        # (with identity on, its own, which also gets it its certificate).
        kube = replace(
            kube,
            catalog_env=tuple(catalog_reader_env(spec, kube)),
            identity=spec.identity_on,
        )
    # Parts that read the others (the load balancer, the pipelines) come last and get
    # the env the others give services, as they do locally.
    kinds = sorted(spec.components, key=lambda kind: _reads_others(component(kind)))
    for kind in kinds:
        comp = component(kind)
        raw = spec.components[kind]
        if _reads_others(comp):
            given = [entry for _, piece in pieces for entry in piece.env]
            kube = replace(kube, platform_env=tuple(given))
        options = comp.options(raw)
        try:
            piece = comp.render_kubernetes(options, kube)
        except NotSupported as exc:
            raise LeapfrogError(
                f"components.{kind}: {exc}", hint=f"remove `{kind}` to render this stack"
            ) from None
        backups = getattr(options, "backups", None)
        if isinstance(backups, BackupOptions):
            # The store's `backups:` is a BackupSchedule the backup operator runs (a
            # part of its own, after the operator's CRDs, for `kubectl apply -f DIR`).
            schedules += backup_schedule(kind, backups, {**piece.ports, **piece.store_ports}, kube)
        pieces.append((kind, piece))
    for part, piece in pieces:
        parts[part] = list(piece.objects)
        secrets += piece.secrets
        platform_env += piece.env
        ports[part] = piece.ports
    if schedules:
        parts["backup-schedules"] = schedules
    parts |= _services(spec, kube, platform_env)
    rollouts = {
        name: service.rollout
        for name, service in spec.services.items()
        if any(o["kind"] in ("Deployment", "StatefulSet") for o in parts[name])
    }
    claims = render_volumes(spec, kube)
    if claims:
        parts[_CLAIMS] = claims
    parts["network"] = render_network(spec, kube, ports)
    host_logs = render_host_logs(spec.host_logs, kube, platform_env)
    if host_logs:
        parts["host-logs"] = host_logs
    _collisions(stack, parts)
    if spec.kubernetes.write_secrets:
        parts["secrets"] = [secret_manifest(s, kube) for s in secrets]
    objects = sorted((o for objs in parts.values() for o in objs), key=apply_rank)
    return Rendered(kube.namespace, objects, secrets, parts, rollouts)


def _services(
    spec: StackSpec, kube: k.KubeContext, platform_env: list[dict[str, Any]]
) -> dict[str, list[k.Manifest]]:
    """Each service's objects; with ACL its pods get their own catalog token, with
    identity on the SDK's switch and HTTPS probes."""
    parts = {}
    for name, service in spec.services.items():
        env = pod_identity_env(platform_env, name, spec)
        parts[name] = render_service(name, service, kube, env, spec.volumes, tls=spec.identity_on)
    return parts


def _namespace(kube: k.KubeContext) -> k.Manifest:
    meta = kube.meta(kube.namespace, "namespace")
    del meta["namespace"]
    # Pod Security admission enforces "restricted" on every pod of the namespace.
    meta["labels"].update(
        {
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/warn": "restricted",
        }
    )
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def _collisions(stack: Stack, parts: dict[str, list[k.Manifest]]) -> None:
    """A service or a shared volume whose objects would take the name of a platform object
    (a service `catalog-dns` with a port, a volume `flink-checkpoints`): named in the
    stack file, not left to the API server."""
    own = {*stack.spec.services, _CLAIMS}
    platform = {
        (o["kind"], o["metadata"]["name"]): part
        for part, objects in parts.items()
        if part not in own
        for o in objects
    }
    problems = []
    for part in own:
        for obj in parts.get(part, []):
            owner = platform.get((obj["kind"], obj["metadata"]["name"]))
            if owner is not None:
                field = (
                    f"volumes.{obj['metadata']['name']}" if part == _CLAIMS else f"services.{part}"
                )
                message = f"its {obj['kind']} would have the name of the {owner}'s own"
                hint = "rename the volume" if part == _CLAIMS else "rename the service"
                problems.append(
                    Problem(str(stack.path), stack.line_of(field), None, field, message, hint)
                )
                if part != _CLAIMS:
                    break
    if problems:
        raise SpecError(problems, _source(stack))


def _reads_others(comp: Any) -> bool:
    return bool(getattr(comp, "uses_catalog", False))


def _source(stack: Stack) -> str | None:
    try:
        return stack.path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
