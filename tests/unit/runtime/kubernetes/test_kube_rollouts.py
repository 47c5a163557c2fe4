"""`rollout status|history|undo|pause|resume --target kubernetes` against a fake API server
(an httpx transport answering as the API does): the revisions read from the ReplicaSets,
the patches sent (kubectl's undo, spec.paused), the errors, and the command line."""

from __future__ import annotations

import copy
import datetime
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest
from lightkube import Client
from tests.unit.fake_cluster import fake_config

from leapfrog.cli import main
from leapfrog.runtime import kubernetes
from leapfrog.runtime.kubernetes import KubeRollouts
from leapfrog.runtime.kubernetes import _revisions as rev
from leapfrog.shared.errors import LeapfrogError

NS = "shop"


def fake_client(handler: Any) -> Client:
    config = fake_config()
    return Client(config=config, transport=httpx2.MockTransport(handler))


UID = "dep-uid"
SELECTOR = {"app.kubernetes.io/name": "web", "app.kubernetes.io/instance": "shop"}


def _template(image: str, version: str, hash_label: str | None = None) -> dict[str, Any]:
    labels = {**SELECTOR, "app.kubernetes.io/version": version}
    if hash_label:
        labels["pod-template-hash"] = hash_label
    return {
        "metadata": {"labels": labels},
        "spec": {"containers": [{"name": "web", "image": image, "env": [{"name": "A"}]}]},
    }


def _replica_set(number: int, image: str, version: str, owner: str = UID) -> dict[str, Any]:
    digest = f"h{number}"
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"web-{digest}",
            "namespace": NS,
            "creationTimestamp": f"2026-12-0{number}T10:00:00Z",
            "labels": {**SELECTOR, "pod-template-hash": digest},
            "annotations": {
                rev.REVISION: str(number),
                rev.CHANGE_CAUSE: "leapfrog apply",
                "deployment.kubernetes.io/desired-replicas": "2",
            },
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": "web",
                    "uid": owner,
                    "controller": True,
                }
            ],
        },
        "spec": {
            "selector": {"matchLabels": SELECTOR},
            "template": _template(image, version, digest),
        },
        "status": {"replicas": 2 if number == 2 else 0},
    }


def _deployment(revision: int = 2, **status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": NS,
            "uid": UID,
            "generation": 4,
            "annotations": {rev.REVISION: str(revision), rev.CHANGE_CAUSE: "leapfrog apply"},
        },
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": SELECTOR},
            "template": _template("reg.example/web:2.0", "2.0"),
        },
        "status": {
            "observedGeneration": 4,
            "replicas": 2,
            "updatedReplicas": 2,
            "readyReplicas": 2,
            "availableReplicas": 2,
            **status,
        },
    }


def _pod(name: str, replica_set: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": NS,
            "labels": SELECTOR,
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": replica_set,
                    "uid": "x",
                    "controller": True,
                }
            ],
        },
        "spec": {"containers": [{"name": "web", "image": "i"}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
    }


@dataclass
class FakeApi:
    """The few paths the rollout commands use, over objects kept here; PATCHes are
    recorded and applied (JSON patch add/replace, merge patch of spec)."""

    deployment: dict[str, Any] | None = field(default_factory=_deployment)
    replica_sets: list[dict[str, Any]] = field(
        default_factory=lambda: [
            _replica_set(1, "reg.example/web:1.0", "1.0"),
            _replica_set(2, "reg.example/web:2.0", "2.0"),
            _replica_set(7, "reg.example/other", "9", owner="someone-else"),
        ]
    )
    stateful_set: dict[str, Any] | None = None
    canary: dict[str, Any] | None = None
    """The Deployment web-canary."""
    canary_pods: list[dict[str, Any]] = field(default_factory=list)
    controller_revisions: list[dict[str, Any]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    after_patch: dict[str, Any] | None = None
    """The Deployment status every GET answers with after a PATCH."""
    patches: list[tuple[str, str, Any]] = field(default_factory=list)
    """(content type, field manager, body) of each PATCH."""
    statuses: list[dict[str, Any]] = field(default_factory=list)
    """Deployment statuses the next GETs answer with, one each (then the last stays)."""
    set_pods: list[dict[str, Any]] | None = None
    """The StatefulSet's pods (instead of the Deployment's two)."""
    after_set_patch: dict[str, Any] | None = None
    """The StatefulSet's status after a PATCH (the controller's work done)."""

    def client(self) -> Client:
        return fake_client(self.handle)

    @staticmethod
    def _missing(what: str) -> httpx2.Response:
        body = {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": f"{what} not found", "reason": "NotFound", "code": 404,
        }  # fmt: skip
        return httpx2.Response(404, json=body)

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        path = request.url.path
        apps = f"/apis/apps/v1/namespaces/{NS}"
        if path == f"{apps}/deployments/web":
            if self.deployment is None:
                return self._missing('deployments.apps "web"')
            if request.method == "PATCH":
                return self._patch(request)
            if self.statuses:
                status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
                self.deployment["status"] = status
            return httpx2.Response(200, json=self.deployment)
        if path == f"{apps}/deployments/web-canary":
            if self.canary is None:
                return self._missing('deployments.apps "web-canary"')
            if request.method == "DELETE":
                self.canary = None
                self.deleted.append("web-canary")
                return httpx2.Response(200, json={"kind": "Status", "apiVersion": "v1",
                                                  "metadata": {}, "status": "Success"})  # fmt: skip
            return httpx2.Response(200, json=self.canary)
        if path.startswith(f"{apps}/deployments/"):
            return self._missing("deployment")
        if path.startswith(f"{apps}/statefulsets/"):
            if self.stateful_set is not None and path.endswith("/web"):
                if request.method == "PATCH":
                    return self._patch_set(request)
                return httpx2.Response(200, json=self.stateful_set)
            return self._missing("statefulset")
        if path == f"{apps}/controllerrevisions":
            assert "app.kubernetes.io/name=web" in request.url.params["labelSelector"]
            items = {"apiVersion": "apps/v1", "kind": "ControllerRevisionList", "metadata": {}}
            return httpx2.Response(200, json=items | {"items": self.controller_revisions})
        if path == f"{apps}/replicasets":
            assert "app.kubernetes.io/name=web" in request.url.params["labelSelector"]
            items = {"apiVersion": "apps/v1", "kind": "ReplicaSetList", "metadata": {}}
            return httpx2.Response(200, json=items | {"items": self.replica_sets})
        if path == f"/api/v1/namespaces/{NS}/pods":
            selector = request.url.params["labelSelector"]
            pods = [_pod("web-h2-a", "web-h2"), _pod("web-h1-b", "web-h1")]
            if self.set_pods is not None:
                pods = self.set_pods
            if "app.kubernetes.io/name=web-canary" in selector:
                pods = self.canary_pods
            return httpx2.Response(
                200, json={"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": pods}
            )
        return httpx2.Response(500, json={"message": f"unexpected {request.method} {path}"})

    def _patch(self, request: httpx2.Request) -> httpx2.Response:
        assert self.deployment is not None
        body = json.loads(request.content)
        kind = request.headers["content-type"]
        self.patches.append((kind, request.url.params.get("fieldManager", ""), body))
        if kind == "application/json-patch+json":
            for op in body:
                *parents, last = op["path"].strip("/").split("/")
                target = self.deployment
                for part in parents:
                    target = target[part]
                target[last] = copy.deepcopy(op["value"])
        else:
            self.deployment["spec"].update(body["spec"])
        if self.after_patch is not None:
            self.statuses = [self.after_patch]
        return httpx2.Response(200, json=self.deployment)

    def _patch_set(self, request: httpx2.Request) -> httpx2.Response:
        assert self.stateful_set is not None
        kind = request.headers["content-type"]
        body = json.loads(request.content)
        self.patches.append((kind, request.url.params.get("fieldManager", ""), body))
        spec = self.stateful_set["spec"]
        if "template" in body["spec"]:
            spec["template"] = {k: v for k, v in body["spec"]["template"].items() if k != "$patch"}
        if "updateStrategy" in body["spec"]:
            spec["updateStrategy"] = {"type": "RollingUpdate"} | body["spec"]["updateStrategy"]
        if self.after_set_patch is not None:
            self.stateful_set["status"] = self.after_set_patch
        return httpx2.Response(200, json=self.stateful_set)


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


def control(api: FakeApi, services: tuple[str, ...] = ("web", "api")) -> KubeRollouts:
    return KubeRollouts(api.client(), NS, services, interval=0.0)


# -- history ---------------------------------------------------------------------------


def test_history_is_the_deployments_own_replica_sets(api: FakeApi) -> None:
    body = control(api).history("web")
    assert body["service"] == "web" and body["current"] == 2
    numbers = [r["number"] for r in body["revisions"]]
    assert numbers == [1, 2]  # revision 7 belongs to another Deployment
    first, second = body["revisions"]
    assert first["version"] == "1.0" and first["images"] == ["reg.example/web:1.0"]
    assert first["digest"] == "h1" and first["replica_set"] == "web-h1"
    assert first["cause"] == "leapfrog apply" and first["outcome"] == ""
    assert second["outcome"] == "complete"
    assert "pod-template-hash" not in first["template"]["metadata"]["labels"]
    assert first["created"] < second["created"]


# -- undo ------------------------------------------------------------------------------


def test_undo_puts_the_previous_template_back_as_kubectl_does(api: FakeApi) -> None:
    answer = control(api).undo("web", None)
    assert answer["undone"] is True and answer["revision"] == 1
    [(kind, manager, patch)] = api.patches
    assert kind == "application/json-patch+json" and manager == "leapfrog-rollout"
    ops = {op["path"]: op for op in patch}
    template = ops["/spec/template"]["value"]
    assert template == _template("reg.example/web:1.0", "1.0")  # no pod-template-hash
    annotations = ops["/metadata/annotations"]["value"]
    # The controller's own stay as the Deployment has them; the cause says undo.
    assert annotations[rev.REVISION] == "2"
    assert "deployment.kubernetes.io/desired-replicas" not in annotations
    assert annotations[rev.CHANGE_CAUSE] == "leapfrog rollout undo to revision 1"


def test_undo_to_a_revision_kept(api: FakeApi) -> None:
    api.deployment = _deployment(revision=3)
    api.replica_sets.append(_replica_set(3, "reg.example/web:2.0", "2.0"))
    api.deployment["spec"]["template"] = _template("reg.example/web:3.0", "3.0")
    answer = control(api).undo("web", 1)
    assert answer["revision"] == 1
    template = api.deployment["spec"]["template"]
    assert template["spec"]["containers"][0]["image"] == "reg.example/web:1.0"


def test_undo_to_the_running_template_changes_nothing(api: FakeApi) -> None:
    answer = control(api).undo("web", 2)
    assert answer["undone"] is False and answer["current"] == 2
    assert api.patches == []


def test_undo_to_a_revision_not_kept_says_which_are(api: FakeApi) -> None:
    with pytest.raises(LeapfrogError) as caught:
        control(api).undo("web", 9)
    assert caught.value.message == "web has no revision 9"
    assert caught.value.hint == "revisions kept: 1, 2"


def test_undo_with_one_revision_has_nothing_to_go_back_to(api: FakeApi) -> None:
    api.replica_sets = [_replica_set(2, "reg.example/web:2.0", "2.0")]
    with pytest.raises(LeapfrogError, match="web has no revision before 2"):
        control(api).undo("web", None)


def test_a_paused_deployment_is_not_rolled_back(api: FakeApi) -> None:
    assert api.deployment is not None
    api.deployment["spec"]["paused"] = True
    with pytest.raises(LeapfrogError, match="paused") as caught:
        control(api).undo("web", None)
    assert "rollout resume web --target kubernetes" in (caught.value.hint or "")
    assert api.patches == []


# -- pause / resume --------------------------------------------------------------------


def test_pause_and_resume_set_spec_paused(api: FakeApi) -> None:
    rollouts = control(api)
    paused = rollouts.pause("web")
    assert api.patches[-1] == ("application/merge-patch+json", "leapfrog-rollout",
                               {"spec": {"paused": True}})  # fmt: skip
    assert paused["phase"] == "paused" and paused["paused"] and paused["done"]
    assert "resume web" in paused["message"]
    with pytest.raises(LeapfrogError, match="web is already paused"):
        rollouts.pause("web")
    resumed = rollouts.promote("web")  # no canary on a Deployment: promote resumes
    assert api.patches[-1][2] == {"spec": {"paused": False}}
    assert resumed["phase"] == "complete" and not resumed["paused"]
    with pytest.raises(LeapfrogError, match="web is not paused"):
        rollouts.resume("web")


# -- status ----------------------------------------------------------------------------


def test_status_has_the_local_shape_and_each_pods_revision(api: FakeApi) -> None:
    seen = control(api).status("web")
    assert seen["phase"] == "complete" and seen["done"] and seen["current"] == 2
    assert seen["replicas"] == 2 and seen["updated"] == 2
    assert seen["instances"] == [
        {"name": "web-h1-b", "revision": 1, "state": "running and ready", "pending": True},
        {"name": "web-h2-a", "revision": 2, "state": "running and ready", "pending": False},
    ]


def test_follow_reports_progress_until_complete(api: FakeApi) -> None:
    base = _deployment()["status"]
    api.statuses = [base | {"updatedReplicas": 1, "replicas": 3}, base]
    seen = list(control(api).follow("web", timeout=10))
    assert [s["phase"] for s in seen] == ["progressing", "complete"]
    assert "1 of 2 updated replicas" in seen[0]["message"]
    assert "updated 1, ready 2, available 2 of 2" in seen[0]["message"]


def test_follow_stops_failed_past_the_progress_deadline(api: FakeApi) -> None:
    condition = {
        "type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
        "message": 'ReplicaSet "web-h3" has timed out progressing.',
    }  # fmt: skip
    api.statuses = [_deployment()["status"] | {"updatedReplicas": 1, "conditions": [condition]}]
    [seen] = list(control(api).follow("web", timeout=10))
    assert seen["phase"] == "failed"
    assert "exceeded its progress deadline" in seen["message"]
    assert "timed out progressing" in seen["message"]


def test_follow_gives_up_at_the_timeout(api: FakeApi) -> None:
    api.statuses = [_deployment()["status"] | {"updatedReplicas": 1}]
    with pytest.raises(LeapfrogError, match=r"Deployment web not rolled out after 0s"):
        list(control(api).follow("web", timeout=0))


# -- errors ----------------------------------------------------------------------------


def test_a_service_not_deployed_and_an_unknown_name(api: FakeApi) -> None:
    api.deployment = None
    with pytest.raises(LeapfrogError, match="web is not deployed in namespace shop"):
        control(api).history("web")
    with pytest.raises(LeapfrogError) as caught:
        control(api).history("nope")
    assert caught.value.message == "no Deployment or StatefulSet named nope in namespace shop"
    assert "web, api" in (caught.value.hint or "")


SET_UID = "set-uid"


def _stateful_set(update: str = "web-r2") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "web", "namespace": NS, "generation": 1, "uid": SET_UID},
        "spec": {"replicas": 1, "serviceName": "web", "selector": {"matchLabels": SELECTOR},
                 "template": _template("reg.example/web:2.0", "2.0")},
        "status": {"observedGeneration": 1, "replicas": 1, "readyReplicas": 1,
                   "updatedReplicas": 1, "currentRevision": update, "updateRevision": update},
    }  # fmt: skip


def _controller_revision(number: int, image: str, version: str, owner: str = SET_UID) -> Any:
    template = {**_template(image, version), "$patch": "replace"}
    return {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {
            "name": f"web-r{number}",
            "namespace": NS,
            "creationTimestamp": f"2026-12-0{number}T10:00:00Z",
            "labels": {**SELECTOR, "controller-revision-hash": f"web-r{number}"},
            "annotations": {rev.CHANGE_CAUSE: "leapfrog apply"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "StatefulSet",
                    "name": "web",
                    "uid": owner,
                    "controller": True,
                }
            ],
        },
        "revision": number,
        "data": {"spec": {"template": template}},
    }


@pytest.fixture
def stateful(api: FakeApi) -> FakeApi:
    api.deployment = None
    api.stateful_set = _stateful_set()
    api.controller_revisions = [
        _controller_revision(1, "reg.example/web:1.0", "1.0"),
        _controller_revision(2, "reg.example/web:2.0", "2.0"),
        _controller_revision(5, "reg.example/other", "9", owner="someone-else"),
    ]
    return api


def test_a_stateful_sets_history_is_its_controller_revisions(stateful: FakeApi) -> None:
    body = control(stateful).history("web")
    assert body["kind"] == "StatefulSet" and body["current"] == 2
    first, second = body["revisions"]  # revision 5 belongs to another StatefulSet
    assert (first["number"], second["number"]) == (1, 2)
    assert first["controller_revision"] == "web-r1" and first["version"] == "1.0"
    assert first["images"] == ["reg.example/web:1.0"] and first["cause"] == "leapfrog apply"
    assert "$patch" not in first["template"] and second["outcome"] == "complete"


def test_a_stateful_set_is_undone_with_its_revisions_data_as_kubectl_does(
    stateful: FakeApi,
) -> None:
    answer = control(stateful).undo("web", None)
    assert answer["undone"] is True and answer["revision"] == 1
    [(kind, manager, patch)] = stateful.patches
    assert kind == "application/strategic-merge-patch+json" and manager == "leapfrog-rollout"
    assert patch["spec"] == {"template": {**_template("reg.example/web:1.0", "1.0"),
                                          "$patch": "replace"},
                             "updateStrategy": {"rollingUpdate": {"partition": 0}}}  # fmt: skip
    assert patch["metadata"]["annotations"][rev.CHANGE_CAUSE] == (
        "leapfrog rollout undo to revision 1"
    )
    # Now it runs revision 1's template: undoing to it again changes nothing.
    assert control(stateful).undo("web", 1)["undone"] is False
    assert len(stateful.patches) == 1
    with pytest.raises(LeapfrogError, match="web has no revision 4"):
        control(stateful).undo("web", 4)


def test_a_stateful_set_cannot_be_paused_as_with_kubectl(stateful: FakeApi) -> None:
    for verb in ("pause", "resume"):
        with pytest.raises(LeapfrogError, match="runs as a StatefulSet") as caught:
            getattr(control(stateful), verb)("web")
        assert f"kubectl refuses `rollout {verb}` on a StatefulSet" in caught.value.message
        assert "rollout undo web --target kubernetes" in (caught.value.hint or "")
    with pytest.raises(LeapfrogError, match="web holds no canary") as caught:
        control(stateful).promote("web")
    assert "canary: N" in (caught.value.hint or "")
    assert stateful.patches == []


def test_a_stateful_sets_status_gives_each_pods_revision(stateful: FakeApi) -> None:
    seen = control(stateful).status("web")
    assert seen["kind"] == "StatefulSet" and seen["current"] == 2 and seen["phase"] == "complete"


# -- canary ----------------------------------------------------------------------------

CANARY_SELECTOR = {**SELECTOR, "app.kubernetes.io/name": "web-canary"}


def _canary(ready: int = 1, **status: Any) -> dict[str, Any]:
    template = _template("reg.example/web:3.0", "3.0")
    template["metadata"]["labels"] |= {
        "app.kubernetes.io/name": "web-canary", "leapfrog.dev/track": "canary",
        "leapfrog.dev/canary-of": "web",
    }  # fmt: skip
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web-canary", "namespace": NS, "uid": "canary-uid",
                     "generation": 1},
        "spec": {"replicas": 1, "selector": {"matchLabels": CANARY_SELECTOR},
                 "template": template},
        "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
                   "readyReplicas": ready, "availableReplicas": ready, **status},
    }  # fmt: skip


def _canary_pod(since: str) -> dict[str, Any]:
    pod = _pod("web-canary-x", "web-canary-c1")
    pod["metadata"]["labels"] = CANARY_SELECTOR
    pod["status"]["conditions"] = [{"type": "Ready", "status": "True", "lastTransitionTime": since}]
    return pod


def test_status_shows_the_canary_waiting_for_promote(api: FakeApi) -> None:
    api.canary, api.canary_pods = _canary(), [_canary_pod("2026-01-01T00:00:00Z")]
    seen = control(api).status("web")
    assert seen["phase"] == "paused" and seen["done"]
    assert "canary: 1 new pod(s) of 3.0 serving beside 2 (web-canary)" in seen["message"]
    assert "rollout promote web --target kubernetes" in seen["message"]
    assert seen["canary"]["name"] == "web-canary" and seen["canary"]["ready"] == 1
    assert seen["canary"]["ready_for"] > 3600
    names = {i["name"]: i for i in seen["instances"]}
    assert names["web-canary-x"]["canary"] is True and names["web-canary-x"]["revision"] is None


def test_history_names_the_canary_deployment_waiting_for_promote(api: FakeApi) -> None:
    api.canary, api.canary_pods = _canary(), [_canary_pod("2026-01-01T00:00:00Z")]
    api.canary_pods[0]["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z"
    held = control(api).history("web")["canary"]
    assert held["title"] == "web-canary" and held["revision"] is None  # a template not run yet
    assert held["instances"] == ["web-canary-x"] and held["count"] == 1 and held["beside"] == 2
    assert held["version"] == "3.0" and held["waits_for"] == "promote"
    assert held["since"] == rev.epoch("2026-01-01T00:00:00Z")
    # Revision 1's template again: promoting it would bring revision 1 back.
    api.canary["spec"]["template"]["spec"] = _template("reg.example/web:1.0", "1.0")["spec"]
    api.canary["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/version"] = "1.0"
    assert control(api).history("web")["canary"]["revision"] == 1


def test_a_canary_not_ready_is_progressing_and_past_its_deadline_failed(api: FakeApi) -> None:
    api.canary = _canary(ready=0)
    seen = control(api).status("web")
    assert seen["phase"] == "progressing" and seen["canary"]["ready_for"] is None
    assert "canary web-canary: 0 of 1 updated replicas available" in seen["message"]
    condition = {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                 "message": "timed out"}  # fmt: skip
    api.canary = _canary(ready=0, conditions=[condition])
    seen = control(api).status("web")
    assert seen["phase"] == "failed" and not seen["failed"]  # the stable one did not fail
    assert 'canary web-canary: deployment "web-canary" exceeded' in seen["message"]


def test_undo_deletes_the_canary_and_leaves_the_deployment(api: FakeApi) -> None:
    api.canary = _canary()
    answer = control(api).undo("web", None)
    assert answer["undone"] is True and answer["canary_removed"] == "web-canary"
    assert "revision" not in answer and api.deleted == ["web-canary"] and api.patches == []
    assert "canary" not in answer and answer["phase"] == "complete"


def test_promote_puts_the_canary_template_on_the_deployment_then_deletes_it(
    api: FakeApi,
) -> None:
    api.canary = _canary()
    api.after_patch = _deployment()["status"]
    answer = control(api).promote("web", timeout=5)
    [(kind, manager, patch)] = api.patches
    assert kind == "application/json-patch+json" and manager == "leapfrog-rollout"
    ops = {op["path"]: op["value"] for op in patch}
    # The stable Deployment's own labels, so its selector matches the pods.
    assert ops["/spec/template"] == _template("reg.example/web:3.0", "3.0")
    assert ops["/spec/paused"] is False
    assert ops["/metadata/annotations"][rev.CHANGE_CAUSE] == (
        "leapfrog rollout promote of web-canary"
    )
    assert api.deleted == ["web-canary"]
    assert answer["promoted"] == "web-canary" and answer["phase"] == "complete"


def test_promote_keeps_the_canary_when_the_deployment_fails(api: FakeApi) -> None:
    api.canary = _canary()
    condition = {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
    api.after_patch = _deployment()["status"] | {"conditions": [condition]}
    with pytest.raises(LeapfrogError, match="did not roll out") as caught:
        control(api).promote("web", timeout=5)
    assert "web-canary stays" in caught.value.message and api.deleted == []


def test_promote_without_a_canary_resumes_or_says_there_is_nothing(api: FakeApi) -> None:
    with pytest.raises(LeapfrogError, match=r"web has no canary \(web-canary\) and is not"):
        control(api).promote("web")
    assert api.deployment is not None
    api.deployment["spec"]["paused"] = True
    assert control(api).promote("web")["phase"] == "complete"


def test_a_refusal_of_the_api_is_an_error_not_a_traceback() -> None:
    def refuse(_request: httpx2.Request) -> httpx2.Response:
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "forbidden: no", "reason": "Forbidden", "code": 403}  # fmt: skip
        return httpx2.Response(403, json=body)

    client = fake_client(refuse)
    with pytest.raises(LeapfrogError, match="the cluster refused to read web: forbidden: no"):
        KubeRollouts(client, NS).history("web")


# -- the command line ------------------------------------------------------------------


@pytest.fixture
def cli(api: FakeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    stack = tmp_path / "leapfrog.yaml"
    stack.write_text(
        f"name: shop\nkubernetes: {{namespace: {NS}}}\n"
        "services:\n  web: {command: x, image: reg.example/web}\n"
    )
    monkeypatch.setattr(kubernetes, "connect", lambda _config, _context: api.client())

    def run(*args: str) -> int:
        try:
            return main([*args, "-f", str(stack), "--target", "kubernetes"])
        except SystemExit as exc:  # `rollout status` exits 1 on a failed rollout
            return int(exc.code or 0)

    return run


def test_cli_history_json_and_table(cli: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("rollout", "history", "web", "--json") == 0
    body = json.loads(capsys.readouterr().out)
    assert [r["number"] for r in body["revisions"]] == [1, 2]
    assert cli("rollout", "history", "web") == 0
    out = capsys.readouterr().out
    assert "2 (current)" in out and "leapfrog apply" in out
    assert cli("rollout", "history", "web", "--revision", "1") == 0
    one = json.loads(capsys.readouterr().out)
    assert one["template"]["spec"]["containers"][0]["image"] == "reg.example/web:1.0"


def test_cli_undo_pause_status(cli: Any, api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("rollout", "undo", "web") == 0
    out = capsys.readouterr().out
    assert "web: rolling back to revision 1" in out
    assert "leapfrog rollout status web --target kubernetes" in out
    assert cli("rollout", "pause", "web", "--json") == 0
    assert json.loads(capsys.readouterr().out)["phase"] == "paused"
    assert cli("rollout", "status", "web", "--json", "--timeout", "5s") == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["paused"] is True
    assert cli("rollout", "pause", "web") == 1
    assert "web is already paused" in capsys.readouterr().err


def test_cli_status_exits_1_past_the_progress_deadline(
    cli: Any, api: FakeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    condition = {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
    api.statuses = [_deployment()["status"] | {"conditions": [condition]}]
    assert cli("rollout", "status", "web", "--timeout", "5s") == 1
    assert 'deployment "web" exceeded its progress deadline' in capsys.readouterr().out


def test_cli_promote_and_undo_of_a_canary(
    cli: Any, api: FakeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    api.canary = _canary()
    assert cli("rollout", "undo", "web") == 0
    out = capsys.readouterr().out
    assert "web: canary web-canary removed" in out and "web stays on revision 2" in out
    api.canary, api.after_patch = _canary(), _deployment()["status"]
    assert cli("rollout", "promote", "web", "--timeout", "5s") == 0
    assert "web-canary promoted and deleted" in capsys.readouterr().out
    assert cli("rollout", "promote", "web") == 1
    assert "web has no canary (web-canary) and is not paused" in capsys.readouterr().err


# -- a StatefulSet's canary (its partition) ----------------------------------------------


def _set_pod(ordinal: int, revision: str, ready: bool = True, made: str = "") -> dict[str, Any]:
    made = made or "2026-01-01T00:00:00Z"
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": f"web-{ordinal}", "namespace": NS, "creationTimestamp": made,
                     "labels": {**SELECTOR, "controller-revision-hash": revision}},
        "spec": {"containers": [{"name": "web", "image": "i"}]},
        "status": {"phase": "Running", "conditions": [
            {"type": "Ready", "status": "True" if ready else "False",
             "lastTransitionTime": made}]},
    }  # fmt: skip


@pytest.fixture
def held(stateful: FakeApi) -> FakeApi:
    """web: 3 pods, partition 2: web-2 runs revision 3 (3.0), web-0 and web-1 revision 2."""
    assert stateful.stateful_set is not None
    stateful.controller_revisions.append(_controller_revision(3, "reg.example/web:3.0", "3.0"))
    sts = stateful.stateful_set
    sts["metadata"]["annotations"] = {"leapfrog.dev/progress-deadline-seconds": "60"}
    sts["spec"] |= {"replicas": 3, "template": _template("reg.example/web:3.0", "3.0"),
                    "updateStrategy": {"type": "RollingUpdate",
                                       "rollingUpdate": {"partition": 2}}}  # fmt: skip
    sts["status"] = {"observedGeneration": 1, "replicas": 3, "readyReplicas": 3,
                     "updatedReplicas": 1, "currentRevision": "web-r2",
                     "updateRevision": "web-r3"}  # fmt: skip
    stateful.set_pods = [_set_pod(0, "web-r2"), _set_pod(1, "web-r2"), _set_pod(2, "web-r3")]
    return stateful


ROLLED = {"observedGeneration": 1, "replicas": 3, "readyReplicas": 3, "updatedReplicas": 3,
          "currentRevision": "web-r3", "updateRevision": "web-r3"}  # fmt: skip


def test_a_held_stateful_set_shows_its_canary_waiting_for_promote(held: FakeApi) -> None:
    seen = control(held).status("web")
    assert seen["phase"] == "paused" and seen["done"] and seen["current"] == 3
    canary = seen["canary"]
    assert (canary["revision"], canary["partition"], canary["desired"]) == (3, 2, 1)
    assert canary["pods"] == ["web-2"] and canary["ready"] == 1 and canary["version"] == "3.0"
    assert canary["ready_for"] > 3600
    assert "canary: 1 pod(s) of 3.0 (revision 3: web-2) serving beside 2" in seen["message"]
    assert "rollout promote web --target kubernetes" in seen["message"]
    marked = {i["name"]: i.get("canary", False) for i in seen["instances"]}
    assert marked == {"web-0": False, "web-1": False, "web-2": True}
    # The same partition with every pod on one revision holds nothing.
    assert held.stateful_set is not None
    held.stateful_set["status"] = ROLLED
    assert "canary" not in control(held).status("web")


def test_a_stateful_set_canary_not_ready_progresses_then_fails_past_its_deadline(
    held: FakeApi,
) -> None:
    now = datetime.datetime.now(datetime.UTC)
    fresh = now.isoformat().replace("+00:00", "Z")
    assert held.set_pods is not None
    held.set_pods[2] = _set_pod(2, "web-r3", ready=False, made=fresh)
    seen = control(held).status("web")
    assert seen["phase"] == "progressing" and not seen["done"]
    assert "canary of web (revision 3): 0 of 1 new pod(s) ready" in seen["message"]
    held.set_pods[2] = _set_pod(2, "web-r3", ready=False, made="2026-01-01T00:00:00Z")
    seen = control(held).status("web")
    assert seen["phase"] == "failed" and not seen["failed"]
    assert "pod web-2 not ready" in seen["message"] and "progress_deadline 60s" in seen["message"]


def test_history_names_the_canary_its_pods_and_since_when(held: FakeApi) -> None:
    body = control(held).history("web")
    assert body["current"] == 3
    canary = body["canary"]
    assert canary["revision"] == 3 and canary["instances"] == ["web-2"]
    assert canary["count"] == 1 and canary["beside"] == 2 and canary["waits_for"] == "promote"
    assert canary["since"] == rev.epoch("2026-01-01T00:00:00Z")
    held.stateful_set["status"] = ROLLED  # type: ignore[index]
    assert control(held).history("web")["canary"] is None


def test_promote_releases_the_partition_and_follows_the_rollout(held: FakeApi) -> None:
    held.after_set_patch = ROLLED
    answer = control(held).promote("web", timeout=5)
    [(kind, manager, patch)] = held.patches
    assert kind == "application/merge-patch+json" and manager == "leapfrog-rollout"
    assert patch == {"spec": {"updateStrategy": {"rollingUpdate": {"partition": 0}}}}
    assert answer["phase"] == "complete" and answer["promoted"] == "revision 3"
    assert "every pod of web runs it" in answer["note"] and "canary" not in answer


def test_undo_of_a_held_stateful_set_puts_its_stable_revision_back(held: FakeApi) -> None:
    held.after_set_patch = ROLLED | {"currentRevision": "web-r2", "updateRevision": "web-r2"}
    answer = control(held).undo("web", None)
    assert answer["undone"] is True and answer["revision"] == 2
    assert answer["canary_removed"] == "revision 3 on web-2"
    [(kind, _manager, patch)] = held.patches
    assert kind == "application/strategic-merge-patch+json"
    assert patch["spec"]["updateStrategy"] == {"rollingUpdate": {"partition": 0}}
    assert patch["spec"]["template"]["spec"]["containers"][0]["image"] == "reg.example/web:2.0"


def test_apply_wait_promotes_a_stateful_set_canary_after_promote_after(held: FakeApi) -> None:
    from leapfrog.runtime.kubernetes._wait import _settle
    from leapfrog.spec import RolloutSpec

    held.after_set_patch = ROLLED
    said: list[str] = []
    plan = RolloutSpec(canary=1, promote_after=1.0)
    assert _settle(control(held), "web", plan, 5, said.append) is None
    assert "web: canary revision 3 on web-2 ready" in said[0]
    assert "canary promoted after 1s ready" in said[-1]
    assert held.patches[-1][2]["spec"]["updateStrategy"]["rollingUpdate"]["partition"] == 0


def test_apply_wait_reverts_a_stateful_set_canary_past_its_deadline(held: FakeApi) -> None:
    from leapfrog.runtime.kubernetes._wait import _settle
    from leapfrog.spec import RolloutSpec

    assert held.set_pods is not None
    held.set_pods[2] = _set_pod(2, "web-r3", ready=False)
    held.after_set_patch = ROLLED | {"currentRevision": "web-r2", "updateRevision": "web-r2"}
    said: list[str] = []
    failure = _settle(control(held), "web", RolloutSpec(canary=1), 5, said.append)
    assert failure is not None and "pod web-2 not ready" in failure
    assert "auto_revert removed the canary revision 3 on web-2" in failure
    [(_kind, _manager, patch)] = held.patches
    assert patch["spec"]["template"]["spec"]["containers"][0]["image"] == "reg.example/web:2.0"
    off = _settle(control(held), "web", RolloutSpec(canary=1, auto_revert=False), 5, said.append)
    assert off is None  # the undo above rolled it back: nothing held any more


# -- a StatefulSet's rolling update without a canary ---------------------------------------


@pytest.fixture
def rolling(stateful: FakeApi) -> FakeApi:
    """web: 2 pods, no partition, rolling from revision 2 to 3: web-1 made on revision 3
    and not Ready, web-0 still on 2 (the controller waits for web-1)."""
    assert stateful.stateful_set is not None
    stateful.controller_revisions.append(_controller_revision(3, "reg.example/web:3.0", "3.0"))
    sts = stateful.stateful_set
    sts["metadata"]["annotations"] = {"leapfrog.dev/progress-deadline-seconds": "60"}
    sts["spec"] |= {"replicas": 2, "template": _template("reg.example/web:3.0", "3.0"),
                    "updateStrategy": {"type": "RollingUpdate"}}  # fmt: skip
    sts["status"] = {"observedGeneration": 1, "replicas": 2, "readyReplicas": 1,
                     "updatedReplicas": 1, "currentRevision": "web-r2",
                     "updateRevision": "web-r3"}  # fmt: skip
    stateful.set_pods = [_set_pod(0, "web-r2"), _set_pod(1, "web-r3", ready=False)]
    return stateful


BACK = {"observedGeneration": 1, "replicas": 2, "readyReplicas": 2, "updatedReplicas": 2,
        "currentRevision": "web-r2", "updateRevision": "web-r2"}  # fmt: skip


def test_a_stateful_set_rolling_update_fails_past_its_deadline(rolling: FakeApi) -> None:
    now = datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")
    assert rolling.set_pods is not None
    rolling.set_pods[1] = _set_pod(1, "web-r3", ready=False, made=now)
    seen = control(rolling).status("web")
    assert seen["phase"] == "progressing" and not seen["failed"] and "canary" not in seen
    rolling.set_pods[1] = _set_pod(1, "web-r3", ready=False)  # made long ago
    seen = control(rolling).status("web")
    assert seen["phase"] == "failed" and seen["failed"] and not seen["done"]
    assert seen["message"].startswith("statefulset/web: pod web-1 not ready")
    assert "(progress_deadline 60s)" in seen["message"]
    outcome = control(rolling).history("web")["revisions"][-1]["outcome"]
    assert outcome.startswith("failed: statefulset/web: pod web-1 not ready")
    # Not rolling (one revision everywhere), a pod not Ready is no rollout's failure;
    # nor is one the controller has not observed the change for yet.
    assert rolling.stateful_set is not None
    rolling.stateful_set["status"] |= {"currentRevision": "web-r3"}
    assert control(rolling).status("web")["phase"] == "progressing"
    rolling.stateful_set["status"] |= {"currentRevision": "web-r2", "observedGeneration": 0}
    assert control(rolling).status("web")["phase"] == "progressing"


def test_apply_wait_undoes_a_stateful_set_rolling_update_past_its_deadline(
    rolling: FakeApi,
) -> None:
    from leapfrog.runtime.kubernetes._wait import _settle
    from leapfrog.spec import RolloutSpec

    rolling.after_set_patch = BACK
    said: list[str] = []
    failure = _settle(control(rolling), "web", RolloutSpec(), 5, said.append)
    assert failure is not None and "statefulset/web: pod web-1 not ready" in failure
    assert failure.endswith("auto_revert rolled back to revision 2")
    assert "auto_revert: rolled back to revision 2" in said[-1]
    # The same patch as `rollout undo`: revision 2's data, partition untouched.
    [(kind, manager, patch)] = rolling.patches
    assert kind == "application/strategic-merge-patch+json" and manager == "leapfrog-rollout"
    assert patch["spec"]["template"]["spec"]["containers"][0]["image"] == "reg.example/web:2.0"
    assert patch["metadata"]["annotations"][rev.CHANGE_CAUSE].endswith("to revision 2")


def test_without_auto_revert_a_stalled_stateful_set_stays_and_fails(rolling: FakeApi) -> None:
    from leapfrog.runtime.kubernetes._wait import _settle
    from leapfrog.spec import RolloutSpec

    failure = _settle(control(rolling), "web", RolloutSpec(auto_revert=False), 5, print)
    assert failure is not None and "pod web-1 not ready" in failure
    assert "auto_revert is off: `leapfrog rollout undo web --target kubernetes`" in failure
    assert rolling.patches == []


def test_cli_history_says_the_canary_waits_for_promote(
    cli: Any, held: FakeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli("rollout", "history", "web") == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "canary: revision 3 (3.0) on 1 instance(s) (web-2) beside 2" in out
    assert "waits for `leapfrog rollout promote web --target kubernetes`" in out
    assert cli("rollout", "history", "web", "--json") == 0
    assert json.loads(capsys.readouterr().out)["canary"]["instances"] == ["web-2"]
