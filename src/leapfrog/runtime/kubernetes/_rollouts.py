"""`leapfrog rollout ... --target kubernetes`: the rollout contract
(runtime/rollout_control.py) on the stack's Deployment, with kubectl rollout's meaning.

* status: the Deployment's conditions and replicas, judged as `kubectl rollout status`
  does (_rollout.py); a Deployment past its progressDeadlineSeconds has failed, a paused
  one is where it stays (`done`, saying so). A StatefulSet's status too.
* history: its ReplicaSets as revisions (_revisions.py).
* undo: the chosen ReplicaSet's pod template put back (a JSON patch, as kubectl's), which
  the Deployment controller rolls out as a new revision.
* pause / resume (and promote, since a Deployment has no canary): `spec.paused`.

The patches are made with a field manager of their own: the next `leapfrog apply` takes
the template back (server-side apply with force), as `kubectl apply` does after
`kubectl rollout undo`; it leaves `spec.paused` alone, which it does not render.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from leapfrog.runtime.kubernetes import _revisions as rev
from leapfrog.runtime.kubernetes._rollout import RolloutStatus, judge, workload
from leapfrog.runtime.rollout_control import FINAL
from leapfrog.shared.errors import LeapfrogError

if TYPE_CHECKING:
    from lightkube import Client

__all__ = ["ROLLOUT_MANAGER", "KubeRollouts"]

ROLLOUT_MANAGER = "leapfrog-rollout"
"""The field manager of undo, pause and resume."""


@contextlib.contextmanager
def _cluster(what: str) -> Iterator[None]:
    """The API's refusals and an unreachable cluster as errors that say what to do."""
    import httpx2
    from lightkube.core.exceptions import ApiError

    try:
        yield
    except ApiError as exc:
        message = getattr(exc.status, "message", None) or str(exc)
        raise LeapfrogError(
            f"the cluster refused {what}: {message}",
            hint="check your rights in the namespace (kubectl auth can-i --list)",
        ) from None
    except httpx2.HTTPError as exc:
        raise LeapfrogError(
            f"cannot reach the cluster to {what}: {exc}",
            hint="check the kubeconfig's server (kubectl cluster-info)",
        ) from None


class KubeRollouts:
    """The rollouts of the stack's workloads in one namespace of a cluster."""

    def __init__(
        self,
        client: Client,
        namespace: str,
        services: Sequence[str] = (),
        interval: float = 0.25,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.services = tuple(services)
        """The stack file's services: a missing one is `not deployed`, not unknown."""
        self.interval = interval

    # -- reading ------------------------------------------------------------------------

    def _workload(self, name: str) -> tuple[str, Any]:
        with _cluster(f"to read {name}"):
            return workload(self.client, self.namespace, name, self.services)

    def _deployment(self, name: str) -> dict[str, Any]:
        return self._deployment_object(name)[1]

    def _deployment_object(self, name: str) -> tuple[Any, dict[str, Any]]:
        """The Deployment `name` names, as the client's object and as the API's JSON."""
        kind, obj = self._workload(name)
        short = name.partition("/")[2] or name
        if kind != "Deployment":
            raise LeapfrogError(
                f"{short} runs as a StatefulSet (it has per-instance volumes): rollout "
                "history, undo, pause and resume act on Deployments",
                hint=f"kubectl -n {self.namespace} rollout history|undo statefulset/{short}",
            )
        found: dict[str, Any] = obj.to_dict()
        return obj, found

    def _list(self, kind: str, selector: dict[str, str]) -> list[dict[str, Any]]:
        from lightkube.resources.apps_v1 import ReplicaSet
        from lightkube.resources.core_v1 import Pod

        res: Any = ReplicaSet if kind == "ReplicaSet" else Pod
        labels: dict[str, Any] = dict(selector)
        with _cluster(f"to list the {kind}s"):
            found: Any = self.client.list(res, namespace=self.namespace, labels=labels)
            return [o.to_dict() for o in found]

    def _revisions(self, deployment: dict[str, Any]) -> list[rev.KubeRevision]:
        selector = deployment["spec"]["selector"].get("matchLabels") or {}
        return rev.owned_revisions(deployment, self._list("ReplicaSet", selector))

    def status(self, name: str) -> dict[str, Any]:
        kind, obj = self._workload(name)
        judged = judge(kind, obj)
        raw: dict[str, Any] = obj.to_dict()
        short = judged.name
        paused = bool(raw["spec"].get("paused"))
        current = rev.revision_of(raw) if kind == "Deployment" else None
        revisions = self._revisions(raw) if kind == "Deployment" else []
        by_set = {r.replica_set: r.number for r in revisions}
        selector = raw["spec"]["selector"].get("matchLabels") or {}
        instances = [_instance(pod, by_set, current) for pod in self._list("Pod", selector)]
        phase, message = _phase(kind, judged, raw)
        return judged.as_dict() | {
            "service": short,
            "namespace": self.namespace,
            "current": current,
            "replicas": judged.desired,
            "instances": sorted(instances, key=lambda i: str(i["name"])),
            "paused": paused,
            "phase": phase,
            "message": message,
            "done": judged.done or paused,
        }

    def follow(self, name: str, timeout: float) -> Iterator[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        last: dict[str, Any] | None = None
        while True:
            seen = self.status(name)
            if seen != last:
                yield seen
                last = seen
            if seen["phase"] in FINAL:
                return
            if time.monotonic() >= deadline:
                raise LeapfrogError(
                    f"{seen['kind']} {seen['name']} not rolled out after {timeout:g}s: "
                    f"{seen['message']}",
                    hint=f"kubectl -n {self.namespace} get pods "
                    f"-l app.kubernetes.io/name={seen['name']}",
                )
            time.sleep(self.interval)

    def history(self, name: str) -> dict[str, Any]:
        obj, deployment = self._deployment_object(name)
        current = rev.revision_of(deployment)
        phase, why = _phase("Deployment", judge("Deployment", obj), deployment)
        outcome = f"failed: {why}" if phase == "failed" else phase
        revisions = self._revisions(deployment)
        return {
            "service": deployment["metadata"]["name"],
            "namespace": self.namespace,
            "current": current,
            "revisions": [r.as_dict(current, outcome) for r in revisions],
        }

    # -- changing -----------------------------------------------------------------------

    def _patch(self, name: str, patch: Any, json_patch: bool) -> None:
        from lightkube.resources.apps_v1 import Deployment
        from lightkube.types import PatchType

        with _cluster(f"to change deployment {name}"):
            self.client.patch(
                Deployment,
                name,
                patch,
                namespace=self.namespace,
                patch_type=PatchType.JSON if json_patch else PatchType.MERGE,
                field_manager=ROLLOUT_MANAGER,
            )

    def undo(self, name: str, to: int | None) -> dict[str, Any]:
        deployment = self._deployment(name)
        short = deployment["metadata"]["name"]
        if deployment["spec"].get("paused"):
            raise LeapfrogError(
                f"{short} is paused: a paused Deployment is not rolled back",
                hint=f"`leapfrog rollout resume {short} --target kubernetes` first",
            )
        chosen = rev.choose(short, self._revisions(deployment), rev.revision_of(deployment), to)
        if rev.runs(deployment, chosen):
            return self.status(name) | {"undone": False}
        self._patch(short, rev.undo_patch(deployment, chosen), json_patch=True)
        return self.status(name) | {"undone": True, "revision": chosen.number}

    def _set_paused(self, name: str, paused: bool) -> dict[str, Any]:
        deployment = self._deployment(name)
        short = deployment["metadata"]["name"]
        if bool(deployment["spec"].get("paused")) == paused:
            if paused:
                raise LeapfrogError(
                    f"{short} is already paused",
                    hint=f"`leapfrog rollout resume {short} --target kubernetes` continues it",
                )
            raise LeapfrogError(
                f"{short} is not paused",
                hint=f"`leapfrog rollout status {short} --target kubernetes` shows its rollout",
            )
        self._patch(short, {"spec": {"paused": paused}}, json_patch=False)
        return self.status(name)

    def pause(self, name: str) -> dict[str, Any]:
        return self._set_paused(name, True)

    def resume(self, name: str) -> dict[str, Any]:
        return self._set_paused(name, False)

    def promote(self, name: str) -> dict[str, Any]:
        """A Deployment has no canary: promote resumes a paused one."""
        return self._set_paused(name, False)


def _phase(kind: str, judged: RolloutStatus, raw: dict[str, Any]) -> tuple[str, str]:
    """The local phase (runtime/rollout_control.py) of a judged workload, and why."""
    short = judged.name
    if judged.failed:
        return "failed", f"{judged.message}: {_progressing(raw)}"
    if raw["spec"].get("paused"):
        return "paused", (
            f'deployment "{short}" is paused with {judged.updated} of {judged.desired} '
            f"updated replicas; `leapfrog rollout resume {short} --target kubernetes` "
            "continues"
        )
    if judged.done:
        return "complete", judged.message
    return "progressing", f"{kind.lower()}/{short}: {judged.message}" + _counts(judged)


def _counts(judged: RolloutStatus) -> str:
    return (
        f" (updated {judged.updated}, ready {judged.ready}, available {judged.available} "
        f"of {judged.desired})"
    )


def _progressing(deployment: dict[str, Any]) -> str:
    for condition in (deployment.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Progressing":
            return str(condition.get("message") or condition.get("reason") or "")
    return ""


def _instance(pod: dict[str, Any], by_set: dict[str, int], current: int | None) -> dict[str, Any]:
    meta = pod.get("metadata") or {}
    owner = next(
        (o.get("name") for o in meta.get("ownerReferences") or [] if o.get("controller")), None
    )
    revision = by_set.get(str(owner)) if owner else None
    status = pod.get("status") or {}
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    state = str(status.get("phase") or "Pending").lower() + (" and ready" if ready else "")
    return {
        "name": meta.get("name"),
        "revision": revision,
        "state": state,
        "pending": current is not None and revision != current,
    }
