"""A service's canary and auto_revert on Kubernetes against a fake API server (an httpx
transport keeping the objects it is sent, answering server-side apply, dry runs, lists
and deletes as the API does): what `leapfrog apply` does to the stable Deployment and to
NAME-canary, what prune keeps, and what `apply --wait` does when a rollout fails."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import kubernetes_validate
import pytest
from _kube_stacks import load
from lightkube import Client
from tests.unit.fake_cluster import fake_config

from leapfrog.runtime.kubernetes import Rendered, apply_rendered, render_stack, wait_rollouts
from leapfrog.runtime.kubernetes._canary import canary_manifest, stable_template
from leapfrog.shared.errors import LeapfrogError

NS = "shop"
DEPLOYMENTS = f"/apis/apps/v1/namespaces/{NS}/deployments"


@dataclass
class FakeServer:
    """Objects by API path; server-side apply stores the body (a dry run only answers
    it), keeping the resourceVersion when nothing changed."""

    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    version: int = 0
    deleted: list[str] = field(default_factory=list)
    status: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Deployment statuses by name, put on what a GET answers."""

    def client(self) -> Client:
        config = fake_config()
        return Client(config=config, transport=httpx2.MockTransport(self.handle))

    def deployment(self, name: str) -> dict[str, Any] | None:
        return self.objects.get(f"{DEPLOYMENTS}/{name}")

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        path = request.url.path
        if request.method == "PATCH":
            return self._apply(request, path)
        if request.method == "POST":
            body = json.loads(request.content)
            self.objects[f"{path}/{body['metadata']['name']}"] = body
            return httpx2.Response(201, json=body)
        if request.method == "DELETE" and path in self.objects:
            del self.objects[path]
            self.deleted.append(path.rsplit("/", 1)[1])
            return httpx2.Response(200, json={"kind": "Status", "apiVersion": "v1",
                                              "metadata": {}, "status": "Success"})  # fmt: skip
        if path in self.objects:
            found = copy.deepcopy(self.objects[path])
            name = found["metadata"]["name"]
            if path.startswith("/apis/apps/v1/") and name in self.status:
                found["status"] = self.status[name]
            return httpx2.Response(200, json=found)
        if request.method == "GET" and (
            "labelSelector" in request.url.params or path.endswith("s")
        ):
            items = [o for p, o in self.objects.items() if p.rsplit("/", 1)[0] == path]
            return httpx2.Response(
                200, json={"apiVersion": "v1", "kind": "List", "metadata": {}, "items": items}
            )
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "not found", "reason": "NotFound", "code": 404}  # fmt: skip
        return httpx2.Response(404, json=body)

    def _apply(self, request: httpx2.Request, path: str) -> httpx2.Response:
        body = json.loads(request.content)
        if request.headers["content-type"] == "application/json-patch+json":
            for op in body:
                *parents, last = op["path"].strip("/").split("/")
                target = self.objects[path]
                for part in parents:
                    target = target[part]
                target[last] = copy.deepcopy(op["value"])
            return httpx2.Response(200, json=self.objects[path])
        assert request.headers["content-type"] == "application/apply-patch+yaml"
        before = self.objects.get(path)
        body["metadata"]["generation"] = 1
        if before is not None and _same(before, body):
            body["metadata"]["resourceVersion"] = before["metadata"]["resourceVersion"]
        else:
            self.version += 1
            body["metadata"]["resourceVersion"] = str(self.version)
        body["metadata"]["uid"] = f"uid-{body['metadata']['name']}"
        if request.url.params.get("dryRun") != "All":
            self.objects[path] = body
        return httpx2.Response(200, json=body)


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    def strip(o: dict[str, Any]) -> dict[str, Any]:
        meta = {k: v for k, v in o["metadata"].items() if k not in ("resourceVersion", "uid")}
        return {**o, "metadata": meta}

    return strip(a) == strip(b)


def _stack(version: str, rollout: dict[str, Any] | None = None) -> dict[str, Any]:
    web: dict[str, Any] = {"command": "x", "image": "reg.example/web", "version": version,
                           "port": 8000, "replicas": 2}  # fmt: skip
    if rollout is not None:
        web["rollout"] = rollout
    return {"name": "shop", "catalog": {"enabled": False}, "services": {"web": web}}


def _image(deployment: dict[str, Any] | None) -> str:
    assert deployment is not None
    return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])


def _actions(changes: list[Any]) -> dict[str, str]:
    return {f"{c.kind}/{c.name}": c.action for c in changes}


def test_a_changed_template_goes_to_a_canary_beside_the_stable_deployment(
    tmp_path: Path,
) -> None:
    server = FakeServer()
    client = server.client()

    def apply(version: str, rollout: dict[str, Any] | None = None) -> dict[str, str]:
        rendered = render_stack(load(tmp_path, _stack(version, rollout)))
        return _actions(apply_rendered(client, rendered))

    canary = {"canary": 1}
    first = apply("1.0", canary)  # nothing runs yet: no canary
    assert first["Deployment/web"] == "created" and "Deployment/web-canary" not in first
    second = apply("2.0", canary)
    assert second["Deployment/web-canary"] == "created"
    stable, made = server.deployment("web"), server.deployment("web-canary")
    assert _image(stable) == "reg.example/web:1.0" and _image(made) == "reg.example/web:2.0"
    assert made is not None and stable is not None
    assert made["spec"]["replicas"] == 1 and stable["spec"]["replicas"] == 2
    labels = made["spec"]["template"]["metadata"]["labels"]
    assert labels["leapfrog.dev/track"] == "canary"
    assert labels["leapfrog.dev/canary-of"] == "web"
    # The stable Deployment's selector (name and part-of) does not match the canary's
    # pods; the Service's (instance and part-of) matches both.
    selector = stable["spec"]["selector"]["matchLabels"]
    assert any(labels.get(k) != v for k, v in selector.items())
    service = server.objects[f"/api/v1/namespaces/{NS}/services/web"]["spec"]["selector"]
    stable_labels = stable["spec"]["template"]["metadata"]["labels"]
    assert all(labels[k] == v and stable_labels[k] == v for k, v in service.items())
    assert made["spec"]["selector"]["matchLabels"].items() <= labels.items()

    # Prune keeps the canary; the same stack again changes nothing.
    again = apply("2.0", canary)
    assert again["Deployment/web-canary"] == "unchanged" and "pruned" not in again.values()
    assert server.deployment("web-canary") is not None
    # A newer template replaces the canary's; the stable Deployment still runs 1.0.
    apply("3.0", canary)
    assert _image(server.deployment("web-canary")) == "reg.example/web:3.0"
    assert _image(server.deployment("web")) == "reg.example/web:1.0"
    # The stack file back at the stable Deployment's template: the canary goes.
    back = apply("1.0", canary)
    assert back["Deployment/web-canary"] == "pruned" and server.deployment("web-canary") is None
    # Without `canary:` the template goes to the Deployment and prune takes the canary.
    apply("4.0", canary)
    assert server.deployment("web-canary") is not None
    plain = apply("4.0")
    assert plain["Deployment/web-canary"] == "pruned"
    assert _image(server.deployment("web")) == "reg.example/web:4.0"


def test_the_canary_template_is_the_stable_one_relabelled(tmp_path: Path) -> None:
    rendered = render_stack(load(tmp_path, _stack("2.0", {"canary": 2})))
    stable = next(o for o in rendered.objects if o["kind"] == "Deployment")
    made = canary_manifest(stable, 2)
    assert made["metadata"]["name"] == "web-canary" and made["spec"]["replicas"] == 2
    assert stable_template(made["spec"]["template"], "web") == stable["spec"]["template"]
    assert rendered.rollouts["web"].canary == 2


def test_every_stateful_set_carries_its_progress_deadline(tmp_path: Path) -> None:
    """Without a canary too: apply --wait judges its rolling update by it (_set_canary)."""
    for rollout, seconds in ((None, "120"), ({"progress_deadline": "30s"}, "30")):
        rendered = render_stack(load(tmp_path, _set_stack("1.0", rollout)))
        [sts] = [o for o in rendered.objects if o["kind"] == "StatefulSet"]
        assert sts["metadata"]["annotations"]["leapfrog.dev/progress-deadline-seconds"] == seconds
        assert "rollingUpdate" not in sts["spec"]["updateStrategy"]


SETS = f"/apis/apps/v1/namespaces/{NS}/statefulsets"


def _set_stack(version: str, rollout: dict[str, Any] | None) -> dict[str, Any]:
    data = _stack(version, rollout)
    data["volumes"] = {"data": {"scope": "instance"}}
    data["services"]["web"] |= {"volumes": ["data"], "replicas": 3}
    return data


def _partition(server: FakeServer) -> int | None:
    strategy = server.objects[f"{SETS}/web"]["spec"]["updateStrategy"]
    return strategy.get("rollingUpdate", {}).get("partition")


def _observed(server: FakeServer, current: str, update: str) -> None:
    """The controller's status of web, and `current`'s ControllerRevision, the template
    the StatefulSet has when `current` is `update` (else the one before)."""
    sts = server.objects[f"{SETS}/web"]
    server.status["web"] = {"observedGeneration": 1, "replicas": 3, "readyReplicas": 3,
                            "currentRevision": current, "updateRevision": update}  # fmt: skip
    path = f"/apis/apps/v1/namespaces/{NS}/controllerrevisions/{current}"
    if path not in server.objects:
        template = {**copy.deepcopy(sts["spec"]["template"]), "$patch": "replace"}
        server.objects[path] = {
            "apiVersion": "apps/v1", "kind": "ControllerRevision", "revision": 1,
            "metadata": {"name": current, "namespace": NS},
            "data": {"spec": {"template": template}},
        }  # fmt: skip


def test_a_stateful_set_canary_is_its_partition_kept_by_the_same_stack(tmp_path: Path) -> None:
    server = FakeServer()
    client = server.client()

    def apply(version: str, rollout: dict[str, Any] | None = None) -> dict[str, Any]:
        rendered = render_stack(load(tmp_path, _set_stack(version, rollout)))
        return {f"{c.kind}/{c.name}": c for c in apply_rendered(client, rendered)}

    canary = {"canary": 1, "progress_deadline": "45s"}
    first = apply("1.0", canary)  # nothing runs yet: every pod gets the template
    assert first["StatefulSet/web"].action == "created" and not first["StatefulSet/web"].canary
    made = server.objects[f"{SETS}/web"]
    assert _partition(server) == 0
    assert made["metadata"]["annotations"]["leapfrog.dev/progress-deadline-seconds"] == "45"
    kubernetes_validate.validate(made, "1.37.0", strict=True)
    _observed(server, "web-1", "web-1")

    second = apply("2.0", canary)  # a new template: held on the highest ordinal
    assert second["StatefulSet/web"].canary == 1 and "StatefulSet/web-canary" not in second
    assert second["StatefulSet/web"].as_dict()["canary"] == 1
    assert _partition(server) == 2 and _image(server.objects[f"{SETS}/web"]).endswith(":2.0")
    kubernetes_validate.validate(server.objects[f"{SETS}/web"], "1.37.0", strict=True)
    _observed(server, "web-1", "web-2")
    # The same stack again keeps the partition (no silent promote), nothing changes.
    again = apply("2.0", canary)
    assert again["StatefulSet/web"].action == "unchanged" and _partition(server) == 2
    # So does a promote's partition 0 (the rollout_manager's patch) stay 0.
    server.objects[f"{SETS}/web"]["spec"]["updateStrategy"]["rollingUpdate"]["partition"] = 0
    apply("2.0", canary)
    assert _partition(server) == 0
    server.objects[f"{SETS}/web"]["spec"]["updateStrategy"]["rollingUpdate"]["partition"] = 2
    # A newer template goes to the canary's pods; back at the stable one, nothing is held.
    apply("3.0", canary)
    assert _partition(server) == 2 and _image(server.objects[f"{SETS}/web"]).endswith(":3.0")
    back = apply("1.0", canary)
    assert _partition(server) == 0 and not back["StatefulSet/web"].canary
    # Without `canary:` the StatefulSet rolls every pod (no partition rendered).
    apply("4.0")
    assert _partition(server) is None


def test_a_stateful_set_with_a_canary_renders_strictly_valid(tmp_path: Path) -> None:
    rendered = render_stack(load(tmp_path, _set_stack("1.0", {"canary": 2})))
    [sts] = [o for o in rendered.objects if o["kind"] == "StatefulSet"]
    assert sts["spec"]["updateStrategy"] == {"type": "RollingUpdate",
                                             "rollingUpdate": {"partition": 0}}  # fmt: skip
    kubernetes_validate.validate(sts, "1.37.0", strict=True)
    assert rendered.rollouts["web"].canary == 2


# -- apply --wait ----------------------------------------------------------------------

DEADLINE = {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
            "message": 'ReplicaSet "web-2" has timed out progressing.'}  # fmt: skip
READY = {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2,
         "availableReplicas": 2}  # fmt: skip


def _two_revisions(server: FakeServer) -> None:
    """web's ReplicaSets for revisions 1 and 2 (2 current), as the controller keeps them."""
    web = server.deployment("web")
    assert web is not None
    web["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "2"
    for number, version in ((1, "1.0"), (2, "2.0")):
        template = copy.deepcopy(web["spec"]["template"])
        template["spec"]["containers"][0]["image"] = f"reg.example/web:{version}"
        server.objects[f"/apis/apps/v1/namespaces/{NS}/replicasets/web-{number}"] = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"web-{number}",
                "namespace": NS,
                "annotations": {"deployment.kubernetes.io/revision": str(number)},
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": "web",
                        "uid": "uid-web",
                        "controller": True,
                    }
                ],
            },
            "spec": {"selector": web["spec"]["selector"], "template": template},
        }


def _applied(tmp_path: Path, rollout: dict[str, Any]) -> tuple[FakeServer, Rendered]:
    server = FakeServer()
    rendered = render_stack(load(tmp_path, _stack("2.0", rollout)))
    apply_rendered(server.client(), rendered)
    _two_revisions(server)
    return server, rendered


def test_apply_wait_reverts_a_deployment_past_its_deadline(tmp_path: Path) -> None:
    server, rendered = _applied(tmp_path, {})
    server.status["web"] = READY | {"updatedReplicas": 1, "conditions": [DEADLINE]}
    said: list[str] = []
    original = server._apply

    def patched(request: httpx2.Request, path: str) -> httpx2.Response:
        answer = original(request, path)
        if request.headers["content-type"] == "application/json-patch+json":
            server.status["web"] = READY  # the controller rolls revision 1 back out
        return answer

    server._apply = patched  # type: ignore[method-assign]
    with pytest.raises(LeapfrogError) as caught:
        wait_rollouts(server.client(), rendered, timeout=5, say=said.append, interval=0)
    message = caught.value.message
    assert 'web: deployment "web" exceeded its progress deadline' in message
    assert "timed out progressing" in message
    assert "auto_revert rolled back to revision 1" in message
    assert _image(server.deployment("web")) == "reg.example/web:1.0"
    assert any("auto_revert: rolled back to revision 1" in line for line in said)


def test_without_auto_revert_a_failed_rollout_stays_and_fails(tmp_path: Path) -> None:
    server, rendered = _applied(tmp_path, {"auto_revert": False})
    server.status["web"] = READY | {"updatedReplicas": 1, "conditions": [DEADLINE]}
    with pytest.raises(LeapfrogError, match="auto_revert is off"):
        wait_rollouts(server.client(), rendered, timeout=5, interval=0)
    assert _image(server.deployment("web")) == "reg.example/web:2.0"


def test_a_failed_canary_is_deleted_and_the_stable_deployment_kept(tmp_path: Path) -> None:
    server, rendered = _applied(tmp_path, {"canary": 1})
    rendered = render_stack(load(tmp_path, _stack("3.0", {"canary": 1})))
    apply_rendered(server.client(), rendered)
    server.status["web"] = READY
    server.status["web-canary"] = {"observedGeneration": 1, "replicas": 1,
                                   "updatedReplicas": 1, "conditions": [DEADLINE]}  # fmt: skip
    with pytest.raises(LeapfrogError) as caught:
        wait_rollouts(server.client(), rendered, timeout=5, interval=0)
    assert "canary web-canary" in caught.value.message
    assert "auto_revert removed the canary web-canary" in caught.value.message
    assert server.deployment("web-canary") is None
    assert _image(server.deployment("web")) == "reg.example/web:2.0"


def test_a_ready_canary_waits_for_promote_without_promote_after(tmp_path: Path) -> None:
    server, rendered = _applied(tmp_path, {"canary": 1})
    rendered = render_stack(load(tmp_path, _stack("3.0", {"canary": 1})))
    apply_rendered(server.client(), rendered)
    server.status["web"] = READY
    server.status["web-canary"] = READY | {"replicas": 1, "updatedReplicas": 1,
                                           "readyReplicas": 1, "availableReplicas": 1}  # fmt: skip
    said: list[str] = []
    wait_rollouts(server.client(), rendered, timeout=5, say=said.append, interval=0)
    assert any("rollout promote web --target kubernetes" in line for line in said)
    assert server.deployment("web-canary") is not None
