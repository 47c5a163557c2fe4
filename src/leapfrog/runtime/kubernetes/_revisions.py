"""A Deployment's revisions as `kubectl rollout history|undo` reads and writes them.

The Deployment controller keeps one ReplicaSet per pod template it ran, numbered by the
`deployment.kubernetes.io/revision` annotation (the Deployment carries the current
number) and labelled by the cause in `kubernetes.io/change-cause`, copied from the
Deployment (the render sets `leapfrog apply`; an undo sets `leapfrog rollout undo to
revision N`). Undo puts the chosen ReplicaSet's pod template (without the controller's
`pod-template-hash` label) and annotations back on the Deployment, as kubectl's
rollbacker does; the controller then finds that ReplicaSet again and gives it the next
number. Everything here works on plain dicts, the API's JSON; no I/O.
"""

from __future__ import annotations

import copy
import datetime
from dataclasses import dataclass
from typing import Any

from leapfrog.shared.errors import LeapfrogError

__all__ = [
    "CHANGE_CAUSE",
    "REVISION",
    "VERSION",
    "KubeRevision",
    "choose",
    "epoch",
    "owned_revisions",
    "revision_of",
    "runs",
    "set_revisions",
    "set_undo_patch",
    "undo_patch",
]

REVISION = "deployment.kubernetes.io/revision"
CHANGE_CAUSE = "kubernetes.io/change-cause"
_HASH = "pod-template-hash"
_SKIPPED = (
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
)
"""The annotations kubectl's undo leaves as the Deployment has them (the controller's
own, and kubectl's last applied configuration)."""
VERSION = "app.kubernetes.io/version"


def revision_of(obj: dict[str, Any]) -> int | None:
    """The revision number an object's annotation carries (None: none, or not a number)."""
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(REVISION)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _without_hash(template: dict[str, Any]) -> dict[str, Any]:
    found = copy.deepcopy(template)
    labels = (found.get("metadata") or {}).get("labels")
    if labels:
        labels.pop(_HASH, None)
    return found


@dataclass(frozen=True)
class KubeRevision:
    """One ReplicaSet of a Deployment, as a revision."""

    number: int
    replica_set: str
    digest: str
    """The ReplicaSet's pod-template-hash."""
    cause: str
    created: float
    version: str | None
    images: tuple[str, ...]
    template: dict[str, Any]
    """The pod template, without the controller's hash label."""
    annotations: dict[str, str]
    replicas: int
    source: str = "replica_set"
    """What `replica_set` names: a ReplicaSet, or a StatefulSet's `controller_revision`."""
    data: dict[str, Any] | None = None
    """A ControllerRevision's data: the patch that puts it back."""

    def as_dict(self, current: int | None, outcome: str = "") -> dict[str, Any]:
        """The shape of a local revision (`rollout history --json`), and what a ReplicaSet
        adds: its name, images and pod template."""
        return {
            "number": self.number,
            "digest": self.digest,
            "cause": self.cause,
            "created": self.created,
            "version": self.version,
            "outcome": outcome if self.number == current else "",
            self.source: self.replica_set,
            "images": list(self.images),
            "replicas": self.replicas,
            "template": self.template,
        }

    @classmethod
    def of(cls, rs: dict[str, Any]) -> KubeRevision | None:
        number = revision_of(rs)
        if number is None:
            return None
        meta = rs.get("metadata") or {}
        template = _without_hash((rs.get("spec") or {}).get("template") or {})
        return cls(
            number=number,
            replica_set=str(meta.get("name", "")),
            digest=str((meta.get("labels") or {}).get(_HASH, "")),
            replicas=int((rs.get("status") or {}).get("replicas") or 0),
            **_described(meta, template),
        )

    @classmethod
    def of_controller_revision(cls, cr: dict[str, Any]) -> KubeRevision:
        meta = cr.get("metadata") or {}
        data: dict[str, Any] = dict(cr.get("data") or {})
        template = copy.deepcopy((data.get("spec") or {}).get("template") or {})
        template.pop("$patch", None)
        name = str(meta.get("name", ""))
        return cls(
            number=int(cr.get("revision") or 0),
            replica_set=name,
            digest=str((meta.get("labels") or {}).get(_SET_HASH, name.rpartition("-")[2])),
            replicas=0,
            **_described(meta, template),
            source="controller_revision",
            data=data,
        )


_SET_HASH = "controller-revision-hash"


def _described(meta: dict[str, Any], template: dict[str, Any]) -> dict[str, Any]:
    """What a revision shows of its pod template and its owner object's metadata, the
    same for a ReplicaSet and a ControllerRevision."""
    labels = (template.get("metadata") or {}).get("labels") or {}
    containers = (template.get("spec") or {}).get("containers") or []
    annotations: dict[str, str] = dict(meta.get("annotations") or {})
    return {
        "cause": annotations.get(CHANGE_CAUSE) or "<none>",
        "created": epoch(meta.get("creationTimestamp")),
        "version": labels.get(VERSION),
        "images": tuple(str(c.get("image", "")) for c in containers),
        "template": template,
        "annotations": annotations,
    }


def set_revisions(
    stateful_set: dict[str, Any], controller_revisions: list[dict[str, Any]]
) -> list[KubeRevision]:
    """The StatefulSet's ControllerRevisions (those it controls) as revisions, oldest
    first; each counts the pods (`pods`: their controller-revision-hash) that run it."""
    uid = (stateful_set.get("metadata") or {}).get("uid")
    found = [
        KubeRevision.of_controller_revision(cr)
        for cr in controller_revisions
        if any(
            o.get("controller") and o.get("uid") == uid
            for o in (cr.get("metadata") or {}).get("ownerReferences") or []
        )
    ]
    return sorted(found, key=lambda r: r.number)


def set_undo_patch(revision: KubeRevision) -> dict[str, Any]:
    """The strategic merge patch that puts a StatefulSet's revision back: the
    ControllerRevision's data (the pod template, replacing), and the cause an undo."""
    assert revision.data is not None
    cause = {CHANGE_CAUSE: f"leapfrog rollout undo to revision {revision.number}"}
    return {**revision.data, "metadata": {"annotations": cause}}


def epoch(stamp: Any) -> float:
    if isinstance(stamp, datetime.datetime):
        return stamp.timestamp()
    if isinstance(stamp, str) and stamp:
        return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    return 0.0


def owned_revisions(
    deployment: dict[str, Any], replica_sets: list[dict[str, Any]]
) -> list[KubeRevision]:
    """The Deployment's ReplicaSets (those it controls) as revisions, oldest first."""
    uid = (deployment.get("metadata") or {}).get("uid")
    found: list[KubeRevision] = []
    for rs in replica_sets:
        owners = (rs.get("metadata") or {}).get("ownerReferences") or []
        if not any(o.get("controller") and o.get("uid") == uid for o in owners):
            continue
        revision = KubeRevision.of(rs)
        if revision is not None:
            found.append(revision)
    return sorted(found, key=lambda r: r.number)


def choose(
    name: str, revisions: list[KubeRevision], current: int | None, to: int | None
) -> KubeRevision:
    """The revision `undo` goes back to: `to`, else the newest before the current one."""
    if to is not None:
        found = next((r for r in revisions if r.number == to), None)
        if found is None:
            kept = ", ".join(str(r.number) for r in revisions) or "none"
            raise LeapfrogError(f"{name} has no revision {to}", hint=f"revisions kept: {kept}")
        return found
    newest = current if current is not None else max((r.number for r in revisions), default=0)
    older = [r for r in revisions if r.number < newest]
    if not older:
        raise LeapfrogError(
            f"{name} has no revision before {newest}",
            hint=f"`leapfrog rollout history {name} --target kubernetes` lists its revisions",
        )
    return older[-1]


def runs(deployment: dict[str, Any], revision: KubeRevision) -> bool:
    """Is `revision`'s pod template the Deployment's (kubectl's EqualIgnoreHash)?"""
    template = (deployment.get("spec") or {}).get("template") or {}
    return _without_hash(template) == revision.template


def undo_patch(deployment: dict[str, Any], revision: KubeRevision) -> list[dict[str, Any]]:
    """The JSON patch that puts `revision` back: its pod template, and its annotations
    but the controller's and kubectl's own, with the cause an undo."""
    present = (deployment.get("metadata") or {}).get("annotations") or {}
    annotations = {k: v for k, v in present.items() if k in _SKIPPED}
    annotations |= {k: v for k, v in revision.annotations.items() if k not in _SKIPPED}
    annotations[CHANGE_CAUSE] = f"leapfrog rollout undo to revision {revision.number}"
    return [
        {"op": "replace", "path": "/spec/template", "value": revision.template},
        {"op": "add", "path": "/metadata/annotations", "value": annotations},
    ]
