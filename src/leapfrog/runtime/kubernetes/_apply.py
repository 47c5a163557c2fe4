"""`apply`: server-side apply of the rendered stack with leapfrog's field manager, the
generated Secrets created when absent, and objects the stack no longer has pruned.

A service with `rollout: {canary: N}` whose pod template changes keeps its Deployment on
the template it runs, and the new one goes to a second Deployment, NAME-canary (_canary.py);
when the stack file's template is the one the stable Deployment runs again, the canary
is deleted. A StatefulSet's canary is its partition instead (_set_canary.py).

Each object's outcome is read from its resourceVersion before and after (a no-op apply
does not change it, so a second apply of the same stack reports everything unchanged),
and from its content when a controller wrote in between or in a dry run. Secret
values never appear in what is returned or printed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from leapfrog.components import kube as k
from leapfrog.runtime.kubernetes import _canary as canary
from leapfrog.runtime.kubernetes import _revisions as rev
from leapfrog.runtime.kubernetes import _set_canary as set_canary
from leapfrog.runtime.kubernetes._render import Rendered
from leapfrog.runtime.kubernetes._secrets import secret_manifest
from leapfrog.shared.errors import LeapfrogError

if TYPE_CHECKING:
    from lightkube import Client

__all__ = ["FIELD_MANAGER", "PRUNED_KINDS", "Change", "apply_rendered", "connect"]

FIELD_MANAGER = "leapfrog"
PRUNED_KINDS = (
    ("batch/v1", "Job"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    ("rbac.authorization.k8s.io/v1", "Role"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ("policy/v1", "PodDisruptionBudget"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
    ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"),
    ("v1", "Service"),
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("v1", "ServiceAccount"),
)
"""Namespaced kinds leapfrog renders; prune looks only at these, and only at objects with
the stack's part-of and managed-by labels. Volume claims are never pruned (data), nor
CustomResourceDefinitions (removing one deletes every object of its kind: the records
of backups)."""


@dataclass(frozen=True)
class Change:
    kind: str
    name: str
    action: str
    """created, configured, unchanged, pruned (with --dry-run: what would happen)."""
    canary: int = 0
    """Pods of a new template this apply holds as a canary (NAME-canary's, or a
    StatefulSet's beyond its partition), waiting for promote."""

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {"kind": self.kind, "name": self.name, "action": self.action}
        return found | ({"canary": self.canary} if self.canary else {})


def kubeconfig_path(kubeconfig: Path | None) -> Path:
    """The kubeconfig to use: the one given, else $KUBECONFIG's first, else
    ~/.kube/config; LeapfrogError when it is not a file."""
    import os

    path = (
        kubeconfig
        or Path(
            os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or "~/.kube/config"
        ).expanduser()
    )
    if not path.is_file():
        raise LeapfrogError(
            f"no kubeconfig at {path}", hint="pass --kubeconfig FILE or set KUBECONFIG"
        )
    return path


def connect(kubeconfig: Path | None, context: str | None) -> Client:
    """A client of the cluster in `kubeconfig` (default: $KUBECONFIG or ~/.kube/config)."""
    from lightkube import Client
    from lightkube.config.kubeconfig import KubeConfig
    from lightkube.core.exceptions import ConfigError

    path = kubeconfig_path(kubeconfig)
    try:
        config = KubeConfig.from_file(path)
        single = config.get(context_name=context)
    except (ConfigError, ValueError, KeyError) as exc:
        which = f"context {context!r}" if context else "the current context"
        raise LeapfrogError(
            f"cannot use {which} of {path}: {exc}", hint="list them: kubectl config get-contexts"
        ) from None
    return Client(config=single, field_manager=FIELD_MANAGER)


def _resource(api_version: str, kind: str) -> Any:
    from lightkube.resources import (
        apiextensions_v1,
        apps_v1,
        autoscaling_v2,
        batch_v1,
        core_v1,
        networking_v1,
        policy_v1,
        rbac_authorization_v1,
    )

    modules = {
        "v1": core_v1,
        "apps/v1": apps_v1,
        "batch/v1": batch_v1,
        "autoscaling/v2": autoscaling_v2,
        "policy/v1": policy_v1,
        "networking.k8s.io/v1": networking_v1,
        "rbac.authorization.k8s.io/v1": rbac_authorization_v1,
        "apiextensions.k8s.io/v1": apiextensions_v1,
    }
    if api_version in modules:
        return getattr(modules[api_version], kind)
    return _custom_resource(api_version, kind)


def _custom_resource(api_version: str, kind: str) -> Any:
    """A namespaced custom resource a component renders (the Flink operator's
    `FlinkDeployment`), registered with lightkube so `from_dict` knows it; its plural is
    the CRD convention's (lower-case kind + s)."""
    from lightkube.core.exceptions import LoadResourceError
    from lightkube.core.resource_registry import resource_registry
    from lightkube.generic_resource import create_namespaced_resource

    try:
        return resource_registry.load(api_version, kind)
    except LoadResourceError:  # not registered yet
        pass
    group, _, version = api_version.rpartition("/")
    return create_namespaced_resource(group, version, kind, f"{kind.lower()}s")


def _version_of(client: Client, res: Any, name: str, namespace: str | None) -> Any:
    """The object as the cluster has it, or None."""
    from lightkube.core.exceptions import ApiError

    try:
        return client.get(res, name, namespace=namespace)
    except ApiError as exc:
        if exc.status.code == 404:
            return None
        raise


def _content(obj: Any) -> dict[str, Any]:
    """The object without what the cluster changes on its own (status, bookkeeping)."""
    data: dict[str, Any] = obj.to_dict()
    data.pop("status", None)
    meta = dict(data.get("metadata") or {})
    for key in ("managedFields", "resourceVersion", "generation"):
        meta.pop(key, None)
    data["metadata"] = meta
    return data


def _outcome(before: Any, after: Any, dry_run: bool) -> str:
    if before is None:
        return "created"
    if before.metadata.resourceVersion == after.metadata.resourceVersion and not dry_run:
        return "unchanged"
    # A controller may have written the status between our read and our apply; a dry
    # run answers with the object as it would be, under the old resourceVersion.
    return "configured" if _content(before) != _content(after) else "unchanged"


def _api_error(what: str, exc: Exception) -> LeapfrogError:
    status = getattr(exc, "status", None)
    message = getattr(status, "message", None) or str(exc)
    return LeapfrogError(
        f"the cluster refused {what}: {message}",
        hint="check the object with `leapfrog render`, and your rights in the namespace",
    )


def apply_rendered(
    client: Client,
    rendered: Rendered,
    *,
    prune: bool = True,
    dry_run: bool = False,
    on_change: Callable[[Change], None] = lambda _change: None,
) -> list[Change]:
    import httpx
    from lightkube.codecs import from_dict
    from lightkube.core.exceptions import ApiError

    changes: list[Change] = []

    def record(change: Change) -> None:
        changes.append(change)
        on_change(change)

    kube = _kube_of(rendered)
    generated = [secret_manifest(s, kube) for s in rendered.secrets]
    fresh_namespace = False
    fresh_kinds: set[tuple[str, str]] = set()  # (group, kind) of CRDs a dry run would create
    try:
        for obj in [*rendered.objects, *_missing(generated, rendered.objects)]:
            kind, name = obj["kind"], obj["metadata"]["name"]
            namespace = obj["metadata"].get("namespace")
            if dry_run and (
                fresh_namespace or (obj["apiVersion"].rpartition("/")[0], kind) in fresh_kinds
            ):
                # A dry run cannot place objects in a namespace it did not create, nor
                # objects of a kind it did not define.
                record(Change(kind, name, "created"))
                continue
            res = _resource(obj["apiVersion"], kind)
            before = _version_of(client, res, name, namespace)
            if kind == "Namespace" and before is None:
                fresh_namespace = True
            if kind == "Secret":
                # Never overwritten: a database keeps the password it was created with.
                if before is None and not dry_run:
                    client.create(from_dict(obj))
                record(Change(kind, name, "unchanged" if before else "created"))
                continue
            plan = rendered.rollouts.get(name)
            holder = _HELD.get(kind) if plan is not None and plan.canary else None
            if holder is not None and plan is not None and before is not None:
                for change in holder(client, obj, before, plan.canary, dry_run):
                    record(change)
                continue
            applied = client.apply(
                from_dict(obj), field_manager=FIELD_MANAGER, force=True, dry_run=dry_run
            )
            record(Change(kind, name, _outcome(before, applied, dry_run)))
            if kind == "CustomResourceDefinition":
                if dry_run and before is None:
                    fresh_kinds.add((obj["spec"]["group"], obj["spec"]["names"]["kind"]))
                elif not dry_run:
                    _established(client, res, name)
        if prune and not fresh_namespace:
            for change in _prune(client, rendered, generated, dry_run):
                record(change)
    except ApiError as exc:
        raise _api_error("the stack", exc) from None
    except httpx.HTTPError as exc:
        raise LeapfrogError(
            f"cannot reach the cluster: {exc}", hint="check --kubeconfig and --context"
        ) from None
    return changes


def _with_canary(
    client: Client, obj: k.Manifest, before: Any, replicas: int, dry_run: bool
) -> list[Change]:
    """Apply a service's Deployment that has a canary: a changed pod template goes to
    NAME-canary (`replicas` pods), the stable Deployment keeps its own (and takes every
    other change); the same template as the stable one's deletes the canary."""
    from lightkube.codecs import from_dict
    from lightkube.resources.apps_v1 import Deployment
    from lightkube.types import CascadeType

    name, namespace = obj["metadata"]["name"], obj["metadata"]["namespace"]
    wanted: Any = client.apply(
        from_dict(obj), field_manager=FIELD_MANAGER, force=True, dry_run=True
    )
    running = before.to_dict()["spec"]["template"]
    cname = canary.canary_name(name)
    canary_before = _version_of(client, Deployment, cname, namespace)
    changes: list[Change] = []
    if wanted.to_dict()["spec"]["template"] == running:
        applied = client.apply(
            from_dict(obj), field_manager=FIELD_MANAGER, force=True, dry_run=dry_run
        )
        changes.append(Change("Deployment", name, _outcome(before, applied, dry_run)))
        if canary_before is not None:
            client.delete(
                Deployment,
                cname,
                namespace=namespace,
                cascade=CascadeType.BACKGROUND,
                dry_run=dry_run,
            )
            changes.append(Change("Deployment", cname, "pruned"))
        return changes
    stable = {**obj, "spec": {**obj["spec"], "template": running}}
    applied = client.apply(
        from_dict(stable), field_manager=FIELD_MANAGER, force=True, dry_run=dry_run
    )
    changes.append(Change("Deployment", name, _outcome(before, applied, dry_run)))
    manifest = canary.canary_manifest(obj, replicas)
    applied = client.apply(
        from_dict(manifest), field_manager=FIELD_MANAGER, force=True, dry_run=dry_run
    )
    action = _outcome(canary_before, applied, dry_run)
    changes.append(
        Change("Deployment", cname, action, canary=replicas if action != "unchanged" else 0)
    )
    return changes


def _with_partition(
    client: Client, obj: k.Manifest, before: Any, replicas: int, dry_run: bool
) -> list[Change]:
    """Apply a service's StatefulSet that has a canary (_set_canary.py): a changed pod
    template is held at partition R - `replicas` (its pods of the highest ordinals run
    it); the template back at the one the other pods run releases the partition; the
    same template keeps the partition the cluster has (applying again never promotes)."""
    from lightkube.codecs import from_dict

    running: dict[str, Any] = before.to_dict()
    wanted: Any = client.apply(
        from_dict(set_canary.with_partition(obj, set_canary.partition_of(running))),
        field_manager=FIELD_MANAGER,
        force=True,
        dry_run=True,
    )
    template = wanted.to_dict()["spec"]["template"]
    count = obj["spec"].get("replicas", running["spec"].get("replicas", 1))
    partition = max(0, count - replicas)
    if template == running["spec"]["template"]:
        if not set_canary.partition_of(running):
            partition = 0
    elif template == _stable_template(client, running):
        partition = 0
    applied = client.apply(
        from_dict(set_canary.with_partition(obj, partition)),
        field_manager=FIELD_MANAGER,
        force=True,
        dry_run=dry_run,
    )
    action = _outcome(before, applied, dry_run)
    held = count - partition if action != "unchanged" and partition else 0
    return [Change("StatefulSet", obj["metadata"]["name"], action, canary=held)]


def _stable_template(client: Client, stateful_set: dict[str, Any]) -> dict[str, Any] | None:
    """The pod template of the StatefulSet's current revision (what its pods below the
    partition run), from its ControllerRevision."""
    from lightkube.resources.apps_v1 import ControllerRevision

    current = (stateful_set.get("status") or {}).get("currentRevision")
    if not current:
        return None
    found = _version_of(client, ControllerRevision, current, stateful_set["metadata"]["namespace"])
    if found is None:
        return None
    return rev.KubeRevision.of_controller_revision(found.to_dict()).template


_HELD = {"Deployment": _with_canary, "StatefulSet": _with_partition}
"""How `leapfrog apply` holds a canary, by the kind the service runs as."""


def _canary_kept(rendered: Rendered, obj: Any) -> bool:
    """A canary Deployment of a service that still has `canary:` stays (apply made it
    and deletes it; promote and undo too)."""
    of = (obj.metadata.labels or {}).get(canary.CANARY_OF)
    plan = rendered.rollouts.get(of) if of else None
    return plan is not None and plan.canary > 0


def _established(client: Client, res: Any, name: str, timeout: float = 60.0) -> None:
    """Wait until the API server serves the CRD `name`: objects of its kind come next."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        crd = client.get(res, name)
        conditions = (crd.status.conditions if crd.status else None) or []
        if any(c.type == "Established" and c.status == "True" for c in conditions):
            return
        if time.monotonic() > deadline:
            raise LeapfrogError(
                f"the cluster did not establish CustomResourceDefinition {name} in {timeout:.0f} s",
                hint=f"kubectl describe crd {name}",
            )
        time.sleep(0.2)


def _kube_of(rendered: Rendered) -> k.KubeContext:
    namespace = next(o for o in rendered.objects if o["kind"] == "Namespace")
    stack = namespace["metadata"]["labels"]["app.kubernetes.io/part-of"]
    return k.KubeContext(namespace=rendered.namespace, stack=stack)


def _missing(generated: list[k.Manifest], objects: Iterable[k.Manifest]) -> list[k.Manifest]:
    written = {o["metadata"]["name"] for o in objects if o["kind"] == "Secret"}
    return [s for s in generated if s["metadata"]["name"] not in written]


def _prune(
    client: Client, rendered: Rendered, generated: list[k.Manifest], dry_run: bool
) -> list[Change]:
    from lightkube.types import CascadeType

    kube = _kube_of(rendered)
    wanted = {(o["kind"], o["metadata"]["name"]) for o in [*rendered.objects, *generated]}
    selector: dict[str, Any] = {
        "app.kubernetes.io/part-of": kube.stack,
        "app.kubernetes.io/managed-by": k.MANAGED_BY,
    }
    changes = []
    for api_version, kind in PRUNED_KINDS:
        res = _resource(api_version, kind)
        for obj in client.list(res, namespace=rendered.namespace, labels=selector):
            name = str(obj.metadata.name)
            if (kind, name) in wanted or (kind == "Deployment" and _canary_kept(rendered, obj)):
                continue
            client.delete(
                res,
                name,
                namespace=rendered.namespace,
                cascade=CascadeType.BACKGROUND,
                dry_run=dry_run,
            )
            changes.append(Change(kind, name, "pruned"))
    return changes
