"""A service's canary on Kubernetes, as it is done without a service mesh: a second
Deployment `NAME-canary` beside the stable one.

When `leapfrog apply` changes the pod template of a service with `rollout: {canary: N}`,
the stable Deployment keeps the template it runs and `NAME-canary` runs N pods of the
new one. Its pods carry every label the stable pods do (the `instance` label the Service,
PodDisruptionBudget and NetworkPolicies select: `_service.pods_of`), so they get their
share of traffic, the same network rules and the same catalog name (LEAPFROG_SERVICE); but
their `app.kubernetes.io/name` is NAME-canary, so the stable Deployment's selector (name
and part-of, immutable since the Deployment was made) does not match them, and they carry
`leapfrog.dev/track: canary` and `leapfrog.dev/canary-of: NAME`.

`leapfrog rollout promote` puts the canary's template on the stable Deployment and deletes
the canary once that is rolled out; `rollout undo` deletes it. Everything here works on
plain dicts (the API's JSON); the calls to the cluster are in `_apply` and `_rollouts`.
"""

from __future__ import annotations

import copy
from typing import Any

from leapfrog.runtime.kubernetes._revisions import CHANGE_CAUSE

__all__ = [
    "CANARY_OF",
    "TRACK",
    "canary_manifest",
    "canary_name",
    "stable_template",
]

TRACK = "leapfrog.dev/track"
CANARY_OF = "leapfrog.dev/canary-of"
_NAME = "app.kubernetes.io/name"
_HASH = "pod-template-hash"


def canary_name(name: str) -> str:
    return f"{name}-canary"


def _canary_labels(labels: dict[str, str], name: str) -> dict[str, str]:
    return {**labels, _NAME: canary_name(name), TRACK: "canary", CANARY_OF: name}


def canary_manifest(stable: dict[str, Any], replicas: int) -> dict[str, Any]:
    """The canary Deployment of a rendered stable Deployment: its pod template (relabelled),
    strategy and deadlines, `replicas` pods, and a selector of its own."""
    name = stable["metadata"]["name"]
    meta = copy.deepcopy(stable["metadata"])
    meta["name"] = canary_name(name)
    meta["labels"] = _canary_labels(meta.get("labels") or {}, name)
    meta["annotations"] = {**(meta.get("annotations") or {}), CHANGE_CAUSE: "leapfrog apply"}
    spec = copy.deepcopy(stable["spec"])
    spec["replicas"] = replicas
    selector = dict(spec["selector"]["matchLabels"])
    selector[_NAME] = canary_name(name)
    spec["selector"] = {"matchLabels": selector}
    template = spec["template"]
    template["metadata"]["labels"] = _canary_labels(template["metadata"].get("labels") or {}, name)
    spec["revisionHistoryLimit"] = 1
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec}


def stable_template(canary_template: dict[str, Any], name: str) -> dict[str, Any]:
    """The canary's pod template as the stable Deployment `name` runs it (promote)."""
    template = copy.deepcopy(canary_template)
    labels = template.setdefault("metadata", {}).setdefault("labels", {})
    for key in (TRACK, CANARY_OF, _HASH):
        labels.pop(key, None)
    labels[_NAME] = name
    return template
