"""`rollout status`: wait until a Deployment or StatefulSet has rolled out, judged as
`kubectl rollout status` does (observed generation, updated, ready and available
replicas, no old replicas left), reporting every status seen on the way."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from leapfrog.shared.errors import LeapfrogError

if TYPE_CHECKING:
    from lightkube import Client

__all__ = ["RolloutStatus", "rollout_status", "status_of"]

_KINDS = {"deployment": "Deployment", "statefulset": "StatefulSet"}
_ALIASES = {"deploy": "deployment", "deployments": "deployment", "sts": "statefulset"}


@dataclass(frozen=True)
class RolloutStatus:
    kind: str
    name: str
    desired: int
    updated: int
    ready: int
    available: int
    total: int
    """Pods of every revision, old ones included."""
    done: bool
    message: str
    failed: bool = False

    @property
    def unavailable(self) -> int:
        return max(0, self.desired - self.available)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "unavailable": self.unavailable}


def _deployment(obj: Any) -> RolloutStatus:
    spec, status = obj.spec, obj.status
    desired = spec.replicas if spec.replicas is not None else 1
    updated = (status and status.updatedReplicas) or 0
    ready = (status and status.readyReplicas) or 0
    available = (status and status.availableReplicas) or 0
    total = (status and status.replicas) or 0
    observed = (status and status.observedGeneration) or 0
    name = obj.metadata.name
    for condition in (status and status.conditions) or []:
        if condition.type == "Progressing" and condition.reason == "ProgressDeadlineExceeded":
            message = f'deployment "{name}" exceeded its progress deadline'
            return RolloutStatus(
                "Deployment", name, desired, updated, ready, available, total, False, message, True
            )
    if observed < (obj.metadata.generation or 0):
        message = "waiting for the rollout to be observed"
    elif updated < desired:
        message = f"{updated} of {desired} updated replicas"
    elif total > updated:
        message = f"{total - updated} old replicas pending termination"
    elif available < updated:
        message = f"{available} of {updated} updated replicas available"
    else:
        message = f'deployment "{name}" successfully rolled out'
        return RolloutStatus(
            "Deployment", name, desired, updated, ready, available, total, True, message
        )
    return RolloutStatus(
        "Deployment", name, desired, updated, ready, available, total, False, message
    )


def _stateful_set(obj: Any) -> RolloutStatus:
    spec, status = obj.spec, obj.status
    desired = spec.replicas if spec.replicas is not None else 1
    updated = (status and status.updatedReplicas) or 0
    ready = (status and status.readyReplicas) or 0
    available = (status and status.availableReplicas) or 0
    total = (status and status.replicas) or 0
    observed = (status and status.observedGeneration) or 0
    name = obj.metadata.name
    revisions_match = status is not None and status.updateRevision == status.currentRevision
    if observed < (obj.metadata.generation or 0):
        message = "waiting for the rollout to be observed"
    elif ready < desired:
        message = f"{ready} of {desired} pods ready"
    elif not revisions_match or updated < desired:
        message = f"{updated} of {desired} pods updated"
    else:
        message = f'statefulset "{name}" successfully rolled out'
        return RolloutStatus(
            "StatefulSet", name, desired, updated, ready, available, total, True, message
        )
    return RolloutStatus(
        "StatefulSet", name, desired, updated, ready, available, total, False, message
    )


def _parse(target: str) -> tuple[str | None, str]:
    kind, sep, name = target.partition("/")
    if not sep:
        return None, target
    kind = _ALIASES.get(kind.lower(), kind.lower())
    if kind not in _KINDS:
        raise LeapfrogError(
            f"cannot watch the rollout of a {kind}",
            hint="name a deployment/NAME or statefulset/NAME (or just NAME)",
        )
    return _KINDS[kind], name


def status_of(client: Client, namespace: str, target: str) -> RolloutStatus:
    from lightkube.core.exceptions import ApiError
    from lightkube.resources.apps_v1 import Deployment, StatefulSet

    kind, name = _parse(target)
    kinds = [kind] if kind else ["Deployment", "StatefulSet"]
    for candidate in kinds:
        res = Deployment if candidate == "Deployment" else StatefulSet
        try:
            obj = client.get(res, name, namespace=namespace)
        except ApiError as exc:
            if exc.status.code == 404:
                continue
            raise
        return _deployment(obj) if candidate == "Deployment" else _stateful_set(obj)
    what = " or ".join(kinds)
    raise LeapfrogError(
        f"no {what} named {name} in namespace {namespace}",
        hint="`leapfrog render` lists the objects of the stack; is it applied?",
    )


def rollout_status(
    client: Client,
    namespace: str,
    target: str,
    *,
    timeout: float,
    on_status: Callable[[RolloutStatus], None] = lambda _status: None,
    interval: float = 0.25,
) -> RolloutStatus:
    """Poll until rolled out; LeapfrogError when it failed or `timeout` passed."""
    deadline = time.monotonic() + timeout
    while True:
        status = status_of(client, namespace, target)
        on_status(status)
        if status.done:
            return status
        if status.failed:
            raise LeapfrogError(status.message, hint=f"kubectl -n {namespace} describe {target}")
        if time.monotonic() >= deadline:
            raise LeapfrogError(
                f"{status.kind} {status.name} not rolled out after {timeout:g}s: {status.message}",
                hint=f"kubectl -n {namespace} get pods -l app.kubernetes.io/name={status.name}",
            )
        time.sleep(interval)
