"""`rollout status`: wait until a Deployment or StatefulSet has rolled out, judged as
`kubectl rollout status` does (observed generation, updated, ready and available
replicas, no old replicas left), reporting every status seen on the way."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from leapfrog.shared.errors import LeapfrogError

if TYPE_CHECKING:
    from lightkube import Client

__all__ = ["RolloutStatus", "judge", "rollout_status", "status_of", "workload"]

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


@dataclass(frozen=True)
class _Counts:
    """What Deployments and StatefulSets both report, with absent numbers as 0."""

    name: str
    desired: int
    updated: int
    ready: int
    available: int
    total: int
    unobserved: bool

    @classmethod
    def of(cls, obj: Any) -> _Counts:
        spec, status = obj.spec, obj.status
        observed = (status and status.observedGeneration) or 0
        return cls(
            name=obj.metadata.name,
            desired=spec.replicas if spec.replicas is not None else 1,
            updated=(status and status.updatedReplicas) or 0,
            ready=(status and status.readyReplicas) or 0,
            available=(status and status.availableReplicas) or 0,
            total=(status and status.replicas) or 0,
            unobserved=observed < (obj.metadata.generation or 0),
        )

    def status(self, kind: str, message: str, done: bool, failed: bool = False) -> RolloutStatus:
        return RolloutStatus(
            kind,
            self.name,
            self.desired,
            self.updated,
            self.ready,
            self.available,
            self.total,
            done,
            message,
            failed,
        )


def _deployment(obj: Any) -> RolloutStatus:
    c = _Counts.of(obj)
    if c.unobserved:
        # As kubectl: a deadline passed is read only from a status of the latest spec
        # (an undo right after a failure is not failed).
        message = "waiting for the rollout to be observed"
        return c.status("Deployment", message, False)
    for condition in (obj.status and obj.status.conditions) or []:
        if condition.type == "Progressing" and condition.reason == "ProgressDeadlineExceeded":
            message = f'deployment "{c.name}" exceeded its progress deadline'
            return c.status("Deployment", message, False, failed=True)
    if c.updated < c.desired:
        message = f"{c.updated} of {c.desired} updated replicas"
    elif c.total > c.updated:
        message = f"{c.total - c.updated} old replicas pending termination"
    elif c.available < c.updated:
        message = f"{c.available} of {c.updated} updated replicas available"
    else:
        return c.status("Deployment", f'deployment "{c.name}" successfully rolled out', True)
    return c.status("Deployment", message, False)


def _stateful_set(obj: Any) -> RolloutStatus:
    c = _Counts.of(obj)
    status = obj.status
    revisions_match = status is not None and status.updateRevision == status.currentRevision
    if c.unobserved:
        message = "waiting for the rollout to be observed"
    elif c.ready < c.desired:
        message = f"{c.ready} of {c.desired} pods ready"
    elif not revisions_match or c.updated < c.desired:
        message = f"{c.updated} of {c.desired} pods updated"
    else:
        return c.status("StatefulSet", f'statefulset "{c.name}" successfully rolled out', True)
    return c.status("StatefulSet", message, False)


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


def workload(
    client: Client, namespace: str, target: str, services: Sequence[str] = ()
) -> tuple[str, Any]:
    """The Deployment or StatefulSet `target` names (NAME, deployment/NAME,
    statefulset/NAME): its kind and object. LeapfrogError when there is none, saying
    whether NAME is a service of the stack (`services`) that is not deployed there."""
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
        return candidate, obj
    if name in services:
        raise LeapfrogError(
            f"{name} is not deployed in namespace {namespace}",
            hint="`leapfrog apply` deploys the stack; -n chooses another namespace",
        )
    what = " or ".join(kinds)
    known = f"the stack's services: {', '.join(services)}; " if services else ""
    raise LeapfrogError(
        f"no {what} named {name} in namespace {namespace}",
        hint=f"{known}`leapfrog render` lists the objects of the stack; is it applied?",
    )


def judge(kind: str, obj: Any) -> RolloutStatus:
    return _deployment(obj) if kind == "Deployment" else _stateful_set(obj)


def status_of(client: Client, namespace: str, target: str) -> RolloutStatus:
    return judge(*workload(client, namespace, target))


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
