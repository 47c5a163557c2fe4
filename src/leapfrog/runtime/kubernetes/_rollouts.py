"""`leapfrog rollout ... --target kubernetes`: the rollout contract
(runtime/rollout_control.py) on the stack's Deployment or StatefulSet, with kubectl
rollout's meaning, and a service's canary (NAME-canary, _canary.py).

* status: the Deployment's conditions and replicas, judged as `kubectl rollout status`
  does (_rollout.py); a Deployment past its progressDeadlineSeconds has failed, a paused
  one is where it stays (`done`, saying so). A StatefulSet's status too. A canary beside
  the Deployment is `paused` once its pods are ready (waiting for promote), `failed` past
  its own deadline; so is a StatefulSet holding a canary beyond its partition
  (_set_canary.py), its deadline a canary pod's time to Ready; a StatefulSet's rolling
  update without a canary fails by the same deadline, as a Deployment's does.
* history: a Deployment's ReplicaSets, a StatefulSet's ControllerRevisions, as revisions
  (_revisions.py), and the canary held (`canary`: its revision, pods, since when).
* undo: the chosen ReplicaSet's pod template put back (a JSON patch, as kubectl's), which
  the Deployment controller rolls out as a new revision; a StatefulSet gets the chosen
  ControllerRevision's data as a strategic merge patch (kubectl's StatefulSetRollbacker).
  With a canary, undo deletes the canary; a StatefulSet goes back to the revision its
  pods below the partition run, partition released.
* promote: the canary's template on the stable Deployment, then (once that is rolled out)
  the canary deleted; without a canary, resume. A StatefulSet: partition 0, followed.
* pause / resume: `spec.paused` of a Deployment; a StatefulSet has none (kubectl refuses
  too).

The patches are made with a field manager of their own: the next `leapfrog apply` takes
the template back (server-side apply with force), as `kubectl apply` does after
`kubectl rollout undo`; it leaves `spec.paused` alone, which it does not render.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from leapfrog.runtime.kubernetes import _canary as canary
from leapfrog.runtime.kubernetes import _revisions as rev
from leapfrog.runtime.kubernetes import _set_canary as set_canary
from leapfrog.runtime.kubernetes._rollout import RolloutStatus, judge, workload
from leapfrog.runtime.rollout_control import FINAL
from leapfrog.shared.errors import LeapfrogError

if TYPE_CHECKING:
    from lightkube import Client

__all__ = ["ROLLOUT_MANAGER", "KubeRollouts", "last", "ready_for"]

_DONE = {"pause": "paused", "resume": "resumed", "promote": "promoted"}
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

    def _deployment(self, name: str, verb: str) -> dict[str, Any]:
        """The Deployment `name` names, as the API's JSON; a StatefulSet refused (`verb`
        has no meaning there, as with kubectl)."""
        kind, obj = self._workload(name)
        raw: dict[str, Any] = obj.to_dict()
        if kind != "Deployment":
            short = raw["metadata"]["name"]
            raise LeapfrogError(
                f"{short} runs as a StatefulSet (it has per-instance volumes), which cannot "
                f"be {_DONE[verb]}: kubectl refuses `rollout {verb}` on a StatefulSet too",
                hint=f"`leapfrog rollout undo {short} --target kubernetes` goes back to a "
                "revision; `leapfrog rollout status` follows it",
            )
        return raw

    def _get(self, name: str) -> dict[str, Any] | None:
        """The Deployment `name` as the API's JSON, None when there is none."""
        from lightkube.core.exceptions import ApiError
        from lightkube.resources.apps_v1 import Deployment

        with _cluster(f"to read {name}"):
            try:
                found: dict[str, Any] = self.client.get(
                    Deployment, name, namespace=self.namespace
                ).to_dict()
            except ApiError as exc:
                if exc.status.code == 404:
                    return None
                raise
            return found

    def _list(self, kind: str, selector: dict[str, str]) -> list[dict[str, Any]]:
        from lightkube.resources.apps_v1 import ControllerRevision, ReplicaSet
        from lightkube.resources.core_v1 import Pod

        res: Any = {"ReplicaSet": ReplicaSet, "ControllerRevision": ControllerRevision}.get(
            kind, Pod
        )
        labels: dict[str, Any] = dict(selector)
        with _cluster(f"to list the {kind}s"):
            found: Any = self.client.list(res, namespace=self.namespace, labels=labels)
            return [o.to_dict() for o in found]

    def _revisions(self, kind: str, raw: dict[str, Any]) -> list[rev.KubeRevision]:
        selector = raw["spec"]["selector"].get("matchLabels") or {}
        if kind == "Deployment":
            return rev.owned_revisions(raw, self._list("ReplicaSet", selector))
        return rev.set_revisions(raw, self._list("ControllerRevision", selector))

    @staticmethod
    def _current(kind: str, raw: dict[str, Any], revisions: list[rev.KubeRevision]) -> int | None:
        if kind == "Deployment":
            return rev.revision_of(raw)
        update = (raw.get("status") or {}).get("updateRevision")
        found = [r.number for r in revisions if r.replica_set == update]
        return found[0] if found else None

    def status(self, name: str) -> dict[str, Any]:
        return self._status(name, with_canary=True)

    def _status(self, name: str, *, with_canary: bool) -> dict[str, Any]:
        kind, obj = self._workload(name)
        judged = judge(kind, obj)
        raw: dict[str, Any] = obj.to_dict()
        short = judged.name
        paused = bool(raw["spec"].get("paused"))
        revisions = self._revisions(kind, raw)
        current = self._current(kind, raw, revisions)
        by_set = {r.replica_set: r.number for r in revisions}
        selector = raw["spec"]["selector"].get("matchLabels") or {}
        pods = self._list("Pod", selector)
        instances = [_instance(kind, pod, by_set, current) for pod in pods]
        phase, message = _phase(kind, judged, raw, pods)
        body = judged.as_dict() | {
            "service": short,
            "namespace": self.namespace,
            "current": current,
            "replicas": judged.desired,
            "instances": instances,
            "paused": paused,
            "phase": phase,
            "message": message,
            "done": judged.done or paused,
            # A StatefulSet's own rolling update past its deadline fails as a
            # Deployment's does: `apply --wait` undoes it (_wait.py).
            "failed": judged.failed or phase == "failed",
        }
        if with_canary and kind == "Deployment":
            found = self._get(canary.canary_name(short))
            if found is not None:
                body = self._with_canary(body, found, revisions)
        elif with_canary and set_canary.held(raw):
            body = _with_set_canary(body, raw, pods, revisions)
        body["instances"] = sorted(body["instances"], key=lambda i: str(i["name"]))
        return body

    def _with_canary(
        self, body: dict[str, Any], found: dict[str, Any], revisions: list[rev.KubeRevision]
    ) -> dict[str, Any]:
        """The stable Deployment's status with its canary: its pods among the instances,
        its counts under `canary`, and the phase: failed (its deadline passed),
        progressing (its pods not ready yet), else paused until promote or undo."""
        from lightkube.resources.apps_v1 import Deployment

        judged = judge("Deployment", Deployment.from_dict(found))
        short, name = body["service"], judged.name
        pods = self._list("Pod", found["spec"]["selector"].get("matchLabels") or {})
        template = found["spec"]["template"]
        version = (template.get("metadata") or {}).get("labels", {}).get(rev.VERSION)
        images = [str(c.get("image", "")) for c in template["spec"].get("containers") or []]
        stable = canary.stable_template(template, short)
        info = judged.as_dict() | {
            "title": name,
            # A template the Deployment ran before keeps its number when promoted.
            "revision": next((r.number for r in revisions if r.template == stable), None),
            "version": version,
            "images": images,
            "ready_for": ready_for(pods, judged.desired),
            "since": set_canary.since(pods),
        }
        instances = [
            *body["instances"],
            *(_instance("", p, {}, None) | {"canary": True} for p in pods),
        ]
        phase, message = body["phase"], body["message"]
        if body["failed"] or phase == "progressing":
            pass  # the stable Deployment's own rollout comes first
        elif judged.failed:
            phase, message = "failed", f"canary {name}: {judged.message}: {_progressing(found)}"
        elif not judged.done:
            phase, message = "progressing", f"canary {name}: {judged.message}" + _counts(judged)
        else:
            phase = "paused"
            message = (
                f"canary: {judged.desired} new pod(s) of {version or ', '.join(images)} serving "
                f"beside {body['replicas']} ({name}); `leapfrog rollout promote {short} "
                f"--target kubernetes` promotes them, `leapfrog rollout undo {short} "
                "--target kubernetes` removes them"
            )
        done = phase in ("paused", "complete")
        return body | {
            "canary": info,
            "instances": instances,
            "phase": phase,
            "message": message,
            "done": done,
        }

    def follow(self, name: str, timeout: float) -> Iterator[dict[str, Any]]:
        return self._follow(name, timeout, with_canary=True)

    def _follow(self, name: str, timeout: float, *, with_canary: bool) -> Iterator[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        last: dict[str, Any] | None = None
        while True:
            seen = self._status(name, with_canary=with_canary)
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
        kind, obj = self._workload(name)
        raw: dict[str, Any] = obj.to_dict()
        revisions = self._revisions(kind, raw)
        current = self._current(kind, raw, revisions)
        pods = self._list("Pod", raw["spec"]["selector"].get("matchLabels") or {})
        phase, why = _phase(kind, judge(kind, obj), raw, pods)
        outcome = f"failed: {why}" if phase == "failed" else phase
        return {
            "service": raw["metadata"]["name"],
            "kind": kind,
            "namespace": self.namespace,
            "current": current,
            "revisions": [r.as_dict(current, outcome) for r in revisions],
            "canary": _held(self.status(name)),
        }

    # -- changing -----------------------------------------------------------------------

    def _patch(self, name: str, patch: Any, kind: str = "json", stateful: bool = False) -> None:
        from lightkube.resources.apps_v1 import Deployment, StatefulSet
        from lightkube.types import PatchType

        types = {"json": PatchType.JSON, "merge": PatchType.MERGE, "strategic": PatchType.STRATEGIC}
        res: Any = StatefulSet if stateful else Deployment
        with _cluster(f"to change {'statefulset' if stateful else 'deployment'} {name}"):
            self.client.patch(
                res,
                name,
                patch,
                namespace=self.namespace,
                patch_type=types[kind],
                field_manager=ROLLOUT_MANAGER,
            )

    def remove_canary(self, name: str) -> str | None:
        """Take NAME's canary away: delete its canary Deployment, or put a StatefulSet's
        pods beyond the partition back on the others' revision. What was removed, or
        None when there is no canary."""
        kind, obj = self._workload(name)
        if kind == "StatefulSet":
            raw: dict[str, Any] = obj.to_dict()
            if not set_canary.held(raw):
                return None
            return str(self._undo_set(raw, None)["canary_removed"])
        return self._delete_canary(name)

    def _delete_canary(self, name: str) -> str | None:
        """Delete NAME's canary Deployment; its name, or None when there is none."""
        from lightkube.core.exceptions import ApiError
        from lightkube.resources.apps_v1 import Deployment
        from lightkube.types import CascadeType

        found = canary.canary_name(name)
        with _cluster(f"to delete deployment {found}"):
            try:
                self.client.delete(
                    Deployment, found, namespace=self.namespace, cascade=CascadeType.BACKGROUND
                )
            except ApiError as exc:
                if exc.status.code == 404:
                    return None
                raise
        return found

    def undo(self, name: str, to: int | None) -> dict[str, Any]:
        kind, obj = self._workload(name)
        raw: dict[str, Any] = obj.to_dict()
        short = raw["metadata"]["name"]
        revisions = self._revisions(kind, raw)
        current = self._current(kind, raw, revisions)
        if kind == "StatefulSet":
            return self._undo_set(raw, to)
        removed = self._delete_canary(short)
        if removed is not None and to is None:
            return self.status(name) | {"undone": True, "canary_removed": removed}
        if raw["spec"].get("paused"):
            raise LeapfrogError(
                f"{short} is paused: a paused Deployment is not rolled back",
                hint=f"`leapfrog rollout resume {short} --target kubernetes` first",
            )
        chosen = rev.choose(short, revisions, current, to)
        extra = {"canary_removed": removed} if removed else {}
        if rev.runs(raw, chosen):
            return self.status(name) | {"undone": bool(removed)} | extra
        self._patch(short, rev.undo_patch(raw, chosen))
        return self.status(name) | {"undone": True, "revision": chosen.number} | extra

    def _undo_set(self, raw: dict[str, Any], to: int | None) -> dict[str, Any]:
        """A StatefulSet back to a revision with its partition released: with a canary
        held and no `to`, the revision its other pods run (only the canary's pods
        change); else kubectl's choice, the second newest (the newest is the one set)."""
        short = raw["metadata"]["name"]
        revisions = self._revisions("StatefulSet", raw)
        held = set_canary.held(raw)
        stable = (raw.get("status") or {}).get("currentRevision")
        chosen = next((r for r in revisions if r.replica_set == stable), None)
        if to is not None or not held or chosen is None:
            newest = max((r.number for r in revisions), default=None)
            chosen = rev.choose(short, revisions, newest, to)
        if rev.runs(raw, chosen) and not set_canary.partition_of(raw):
            return self.status(short) | {"undone": False}
        extra: dict[str, Any] = {}
        if held:
            pods = set_canary.canary_pods(
                raw, self._list("Pod", raw["spec"]["selector"]["matchLabels"])
            )
            number = self._current("StatefulSet", raw, revisions)
            names = ", ".join(sorted(str(p["metadata"]["name"]) for p in pods)) or "no pod yet"
            extra["canary_removed"] = f"revision {number} on {names}"
        patch = rev.set_undo_patch(chosen)
        patch["spec"] = {**patch["spec"], **set_canary.partition_patch(0)["spec"]}
        self._patch(short, patch, "strategic", stateful=True)
        return self.status(short) | {"undone": True, "revision": chosen.number} | extra

    def _set_paused(self, name: str, paused: bool) -> dict[str, Any]:
        deployment = self._deployment(name, "pause" if paused else "resume")
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
        self._patch(short, {"spec": {"paused": paused}}, "merge")
        return self.status(name)

    def pause(self, name: str) -> dict[str, Any]:
        return self._set_paused(name, True)

    def resume(self, name: str) -> dict[str, Any]:
        return self._set_paused(name, False)

    def promote(self, name: str, timeout: float = 300.0) -> dict[str, Any]:
        """NAME's canary onto its Deployment, which rolls it out (waiting up to `timeout`),
        then the canary deleted; a Deployment without a canary is resumed. A
        StatefulSet's canary: its partition released (_set_canary.py)."""
        kind, obj = self._workload(name)
        if kind == "StatefulSet":
            raw: dict[str, Any] = obj.to_dict()
            short = raw["metadata"]["name"]
            if not set_canary.held(raw):
                raise LeapfrogError(
                    f"{short} holds no canary (its pods run one revision): nothing to promote",
                    hint="`leapfrog apply` holds a changed template on the highest ordinals "
                    f"when the service has `rollout: {{canary: N}}`; `leapfrog rollout status "
                    f"{short} --target kubernetes` shows its rollout",
                )
            return self.promote_canary(short, timeout)
        deployment = self._deployment(name, "promote")
        short = deployment["metadata"]["name"]
        cname = canary.canary_name(short)
        if self._get(cname) is None:
            if not deployment["spec"].get("paused"):
                raise LeapfrogError(
                    f"{short} has no canary ({cname}) and is not paused: nothing to promote",
                    hint="`leapfrog apply` makes a canary of a changed template when the "
                    f"service has `rollout: {{canary: N}}`; `leapfrog rollout status {short} "
                    "--target kubernetes` shows its rollout",
                )
            return self._set_paused(name, False)
        final = self.promote_canary(short, timeout)
        if final["phase"] != "complete":
            raise LeapfrogError(
                f"{short}: the canary's template did not roll out: {final['message']}; "
                f"the canary {cname} stays",
                hint=f"`leapfrog rollout undo {short} --target kubernetes` removes the canary "
                "and goes back",
            )
        return final

    def promote_canary(self, name: str, timeout: float) -> dict[str, Any]:
        """Put NAME's canary template on its Deployment (resumed) and follow that
        rollout; once complete, delete the canary. The last status seen (`promoted`:
        the canary's name when it was deleted). A StatefulSet: partition 0, followed."""
        kind, obj = self._workload(name)
        if kind == "StatefulSet":
            return self._promote_set(obj.to_dict(), timeout)
        cname = canary.canary_name(name)
        deployment, found = self._get(name), self._get(cname)
        if deployment is None or found is None:
            raise LeapfrogError(f"{name} has no canary ({cname}) to promote")
        template = canary.stable_template(found["spec"]["template"], name)
        running = rev.KubeRevision.of(
            {
                "metadata": {"annotations": {rev.REVISION: "0"}},
                "spec": {"template": deployment["spec"]["template"]},
            }
        )
        assert running is not None
        if running.template != template or deployment["spec"].get("paused"):
            annotations = dict(deployment["metadata"].get("annotations") or {})
            annotations[rev.CHANGE_CAUSE] = f"leapfrog rollout promote of {cname}"
            patch = [
                {"op": "replace", "path": "/spec/template", "value": template},
                {"op": "add", "path": "/metadata/annotations", "value": annotations},
                {"op": "add", "path": "/spec/paused", "value": False},
            ]
            self._patch(name, patch)
        final = last(self._follow(name, timeout, with_canary=False))
        if final.get("phase") != "complete":
            return final
        self._delete_canary(name)
        return self.status(name) | {"promoted": cname, "note": f"{cname} promoted and deleted"}

    def _promote_set(self, raw: dict[str, Any], timeout: float) -> dict[str, Any]:
        short = raw["metadata"]["name"]
        revisions = self._revisions("StatefulSet", raw)
        number = self._current("StatefulSet", raw, revisions)
        self._patch(short, set_canary.partition_patch(0), "merge", stateful=True)
        final = last(self._follow(short, timeout, with_canary=False))
        if final.get("phase") != "complete":
            raise LeapfrogError(
                f"{short}: revision {number} did not roll out to every pod: {final['message']}",
                hint=f"`leapfrog rollout undo {short} --target kubernetes` goes back",
            )
        note = f"revision {number} promoted: every pod of {short} runs it (partition 0)"
        return self.status(short) | {"promoted": f"revision {number}", "note": note}


def _with_set_canary(
    body: dict[str, Any],
    raw: dict[str, Any],
    pods: list[dict[str, Any]],
    revisions: list[rev.KubeRevision],
) -> dict[str, Any]:
    """A StatefulSet's status while it holds a canary beyond its partition: the canary's
    pods marked and counted under `canary`, and the phase: failed (one of them not
    Ready past the deadline), progressing (not all there and Ready yet, nor the other
    pods), else paused until promote or undo."""
    short, replicas = body["service"], int(body["replicas"])
    update = (raw.get("status") or {}).get("updateRevision")
    found = next((r for r in revisions if r.replica_set == update), None)
    mine = set_canary.canary_pods(raw, pods)
    names = sorted(str(p["metadata"]["name"]) for p in mine)
    desired = max(0, replicas - set_canary.partition_of(raw))
    ready = sum(1 for p in mine if ready_for([p], 1) is not None)
    number = found.number if found else None
    version = found.version if found else None
    images = list(found.images) if found else []
    info = {
        "kind": "StatefulSet",
        "name": short,
        "title": f"revision {number} on {', '.join(names) or 'no pod yet'}",
        "revision": number,
        "partition": set_canary.partition_of(raw),
        "desired": desired,
        "updated": len(mine),
        "ready": ready,
        "pods": names,
        "version": version,
        "images": images,
        "ready_for": ready_for(mine, desired),
        "since": set_canary.since(mine),
    }
    instances = [i | {"canary": True} if i["name"] in names else i for i in body["instances"]]
    all_ready = int((raw.get("status") or {}).get("readyReplicas") or 0) >= replicas
    why = set_canary.stuck(raw, mine)
    what = version or ", ".join(images)
    if why is not None:
        phase, message = "failed", f"canary of {short} (revision {number}): {why}"
    elif ready < desired or not all_ready:
        phase = "progressing"
        message = (
            f"canary of {short} (revision {number}): {ready} of {desired} new pod(s) ready, "
            f"{(raw.get('status') or {}).get('readyReplicas') or 0} of {replicas} in all"
        )
    else:
        phase = "paused"
        message = (
            f"canary: {desired} pod(s) of {what} (revision {number}: {', '.join(names)}) "
            f"serving beside {replicas - desired} (partition {info['partition']}); "
            f"`leapfrog rollout promote {short} --target kubernetes` rolls it to every pod, "
            f"`leapfrog rollout undo {short} --target kubernetes` takes it back"
        )
    return body | {
        "canary": info,
        "instances": instances,
        "phase": phase,
        "message": message,
        "done": phase == "paused",
    }


def _held(seen: dict[str, Any]) -> dict[str, Any] | None:
    """What `rollout history` says of the canary a status shows (None: none): the
    revision, its pods, since when, and what it waits for; the shape the local
    history has (runtime/rollout_control.py)."""
    info = seen.get("canary")
    if info is None:
        return None
    pods = sorted(str(i["name"]) for i in seen["instances"] if i.get("canary"))
    stable = len(seen["instances"]) - len(pods)
    return {
        "revision": info.get("revision"),
        "title": info["title"],
        "version": info.get("version"),
        "images": info.get("images") or [],
        "instances": pods,
        "count": info["desired"],
        "ready": info["ready"],
        "beside": stable,
        "since": info.get("since"),
        "phase": seen["phase"],
        "waits_for": "promote" if seen["phase"] == "paused" else "",
        "message": seen["message"],
    }


def last(statuses: Iterator[dict[str, Any]]) -> dict[str, Any]:
    """The last of the statuses a follow yields (its final one)."""
    final: dict[str, Any] = {}
    for final in statuses:  # noqa: B007 (the last one is the answer)
        pass
    return final


def ready_for(pods: list[dict[str, Any]], wanted: int) -> float | None:
    """How long every one of `pods` has been Ready (the shortest), when there are at
    least `wanted` and all are; else None."""
    if len(pods) < max(1, wanted):
        return None
    now = time.time()
    shortest: float | None = None
    for pod in pods:
        conditions = (pod.get("status") or {}).get("conditions") or []
        ready = next((c for c in conditions if c.get("type") == "Ready"), None)
        if ready is None or ready.get("status") != "True":
            return None
        since = now - rev.epoch(ready.get("lastTransitionTime"))
        shortest = since if shortest is None else min(shortest, since)
    return max(0.0, shortest or 0.0)


def _phase(
    kind: str, judged: RolloutStatus, raw: dict[str, Any], pods: list[dict[str, Any]]
) -> tuple[str, str]:
    """The local phase (runtime/rollout_control.py) of a judged workload, and why; a
    StatefulSet's rolling update fails when a pod of its new revision is not Ready by
    the deadline (its canary's is judged in `_with_set_canary`)."""
    short = judged.name
    if judged.failed:
        return "failed", f"{judged.message}: {_progressing(raw)}"
    stalled = set_canary.stalled(raw, pods)
    if stalled is not None:
        return "failed", f"{kind.lower()}/{short}: {stalled}"
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


def _instance(
    kind: str, pod: dict[str, Any], by_set: dict[str, int], current: int | None
) -> dict[str, Any]:
    """A pod and its revision: its ReplicaSet's (a Deployment's pod), its
    controller-revision-hash's (a StatefulSet's)."""
    meta = pod.get("metadata") or {}
    if kind == "StatefulSet":
        owner = (meta.get("labels") or {}).get("controller-revision-hash")
    else:
        owner = next(
            (o.get("name") for o in meta.get("ownerReferences") or [] if o.get("controller")),
            None,
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
