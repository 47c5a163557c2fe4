"""A StatefulSet service's canary on Kubernetes, the StatefulSet's own way: a partitioned
rolling update (`spec.updateStrategy.rollingUpdate.partition`).

A StatefulSet cannot have a second StatefulSet beside it sharing its pods' claims, so
its canary is not NAME-canary (_canary.py) but its highest ordinals: with `canary: N` on
`replicas: R` the partition is R - N, and the controller moves only the pods whose
ordinal is at least that to the new template (its `updateRevision`), the others stay on
`currentRevision`. Those N pods keep their names, claims and labels, so the Service, the
PodDisruptionBudget and the NetworkPolicies treat them as before.

* apply: a changed pod template sets the partition to R - N (the template back at the
  one the other pods run sets it to 0: nothing is held); an unchanged template keeps the
  partition the cluster has, so applying the same stack again never promotes.
* promote: partition 0; the controller rolls every other pod, and `currentRevision`
  becomes the canary's revision once all run it.
* undo: the template of `currentRevision` back (its ControllerRevision's data, as any
  StatefulSet undo) with partition 0: only the canary pods change.
* failure: a StatefulSet has no progressDeadlineSeconds, so a canary pod that is not
  Ready `progress_deadline` after it was made (the render writes it in an annotation on
  every StatefulSet) fails the canary, as a canary Deployment past its deadline does.
  The same deadline fails a rolling update without a canary (`stalled`): a pod of the
  update revision not Ready that long, as a Deployment past progressDeadlineSeconds.

Plain dicts (the API's JSON) here; the calls are in `_apply` and `_rollouts`.
"""

from __future__ import annotations

import copy
import time
from typing import Any

from leapfrog.runtime.kubernetes import _revisions as rev

__all__ = [
    "DEADLINE",
    "canary_pods",
    "deadline_of",
    "held",
    "partition_of",
    "partition_patch",
    "since",
    "stalled",
    "stuck",
    "with_partition",
]

DEADLINE = "leapfrog.dev/progress-deadline-seconds"
"""The stack file's `rollout.progress_deadline` on a StatefulSet."""
_DEFAULT_DEADLINE = 600.0
_HASH = "controller-revision-hash"


def partition_of(stateful_set: dict[str, Any]) -> int:
    strategy = (stateful_set.get("spec") or {}).get("updateStrategy") or {}
    return int((strategy.get("rollingUpdate") or {}).get("partition") or 0)


def with_partition(manifest: dict[str, Any], partition: int) -> dict[str, Any]:
    """The StatefulSet `manifest` with its rolling update held at `partition`."""
    found = copy.deepcopy(manifest)
    found["spec"]["updateStrategy"] = {
        "type": "RollingUpdate",
        "rollingUpdate": {"partition": max(0, partition)},
    }
    return found


def partition_patch(partition: int) -> dict[str, Any]:
    """The merge patch that sets the partition (promote: 0)."""
    return {"spec": {"updateStrategy": {"rollingUpdate": {"partition": partition}}}}


def _rolling(stateful_set: dict[str, Any]) -> bool:
    """Is the StatefulSet between two revisions (its update revision not yet the current
    one), as the controller last observed it? (A Deployment has no update revision.)"""
    status = stateful_set.get("status") or {}
    update, current = status.get("updateRevision"), status.get("currentRevision")
    observed = int(status.get("observedGeneration") or 0) >= int(
        (stateful_set.get("metadata") or {}).get("generation") or 0
    )
    return observed and bool(update) and update != current


def held(stateful_set: dict[str, Any]) -> bool:
    """Does the StatefulSet hold a canary: a partition above 0 and pods of two revisions,
    as the controller last observed it?"""
    return partition_of(stateful_set) > 0 and _rolling(stateful_set)


def stalled(stateful_set: dict[str, Any], pods: list[dict[str, Any]]) -> str | None:
    """Why a StatefulSet's rolling update without a canary failed: one of its `pods` of
    the update revision not Ready past the deadline (`stuck`, as a canary's); None while
    none is, when it is not rolling, or holds a canary (whose failure removes the
    canary only: `stuck` on `canary_pods`)."""
    if not _rolling(stateful_set) or held(stateful_set):
        return None
    return stuck(stateful_set, canary_pods(stateful_set, pods))


def canary_pods(stateful_set: dict[str, Any], pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The pods of the StatefulSet's update revision (the canary's, while `held`)."""
    update = (stateful_set.get("status") or {}).get("updateRevision")
    return [p for p in pods if ((p.get("metadata") or {}).get("labels") or {}).get(_HASH) == update]


def deadline_of(stateful_set: dict[str, Any]) -> float:
    annotations = (stateful_set.get("metadata") or {}).get("annotations") or {}
    try:
        return float(annotations.get(DEADLINE, _DEFAULT_DEADLINE))
    except ValueError:
        return _DEFAULT_DEADLINE


def _ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def stuck(
    stateful_set: dict[str, Any], pods: list[dict[str, Any]], now: float | None = None
) -> str | None:
    """Why the canary failed: one of its `pods` not Ready past the deadline after it
    was made; None while none is."""
    deadline = deadline_of(stateful_set)
    now = time.time() if now is None else now
    for pod in sorted(pods, key=lambda p: str((p.get("metadata") or {}).get("name"))):
        meta = pod.get("metadata") or {}
        age = now - rev.epoch(meta.get("creationTimestamp"))
        if not _ready(pod) and age > deadline:
            return (
                f"pod {meta.get('name')} not ready {age:.0f}s after it started "
                f"(progress_deadline {deadline:g}s)"
            )
    return None


def since(pods: list[dict[str, Any]]) -> float | None:
    """When the oldest of `pods` was made (when the canary began serving), or None."""
    made = [rev.epoch((p.get("metadata") or {}).get("creationTimestamp")) for p in pods]
    return min(made) if made else None
