"""The example stack on a real control plane: `leapfrog apply` creates it, every
Deployment and StatefulSet rolls out to Ready (KWOK's pods), a version change rolls with
no unavailable replica, a re-apply changes nothing, a removed service is pruned.

One apply of the whole stack per session; the tests run in file order on that stack."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from lightkube.resources.apps_v1 import Deployment

from leapfrog.runtime.kubernetes import connect
from leapfrog.testing import ControlPlane, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "leapfrog.yaml"
NAMESPACE = "example"
STORES = ("kafka", "zookeeper", "postgres", "opensearch", "influxdb")


def example_data(namespace: str = NAMESPACE) -> dict[str, Any]:
    """The example stack with an image per service, the load balancer, and a namespace."""
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    for name, service in data["services"].items():
        service.setdefault("image", f"registry.example.com/leapfrog-{name}")
    data.setdefault("components", {}).setdefault("lb", {})
    # The stack is written elsewhere (a temp folder): its job files are named from here.
    for job in data["components"].get("flink", {}).get("jobs", {}).values():
        job["file"] = str(EXAMPLE.parent / job["file"])
    # An autoscaler: the HPA controller writes its status, which must not read as a change.
    data["services"]["hello"]["autoscale"] = {"min": 2, "max": 4}
    data["kubernetes"] = {**data.get("kubernetes", {}), "namespace": namespace}
    return data


@dataclass
class Deployed:
    plane: ControlPlane
    stack: Path
    data: dict[str, Any]
    first: list[dict[str, str]]
    first_output: str = ""
    last_output: str = ""

    def write(self) -> None:
        self.stack.write_text(yaml.safe_dump(self.data, sort_keys=False))

    def cli(self, *args: str, timeout: float = 240) -> Any:
        result = run_cli(
            *args, "-f", str(self.stack), "--kubeconfig", str(self.plane.kubeconfig),
            timeout=timeout,
        )  # fmt: skip
        assert result.code == 0, result.output
        return result

    def apply(self, *extra: str) -> list[dict[str, str]]:
        result = self.cli("apply", "--json", *extra)
        self.last_output = result.output
        changes: list[dict[str, str]] = json.loads(result.stdout)
        return changes

    def get(self, *args: str) -> Any:
        out = self.plane.kubectl("get", "-n", NAMESPACE, *args, "-o", "json").stdout
        return json.loads(out)


def workloads(data: dict[str, Any], plane: ControlPlane) -> list[str]:
    out = plane.kubectl("get", "-n", NAMESPACE, "deployments,statefulsets", "-o", "name").stdout
    return sorted(out.split())


@pytest.fixture(scope="module")
def deployed(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Deployed:
    directory = tmp_path_factory.mktemp("stack")
    data = example_data()
    stack = directory / "leapfrog.yaml"
    state = Deployed(control_plane, stack, data, [])
    state.write()
    state.first = state.apply()
    state.first_output = state.last_output
    return state


def test_apply_creates_every_object(deployed: Deployed) -> None:
    actions = {c["action"] for c in deployed.first}
    assert actions == {"created"}, deployed.first
    kinds = {(c["kind"], c["name"]) for c in deployed.first}
    for expected in [
        ("Namespace", NAMESPACE),
        ("StatefulSet", "catalog"),
        ("StatefulSet", "kafka"),
        ("StatefulSet", "zookeeper"),
        ("StatefulSet", "postgres"),
        ("StatefulSet", "opensearch"),
        ("StatefulSet", "influxdb"),
        ("Deployment", "lb"),
        ("Deployment", "flink-jobmanager"),
        ("Deployment", "flink-taskmanager"),
        ("ConfigMap", "flink-jobs"),
        ("Deployment", "hello"),
        ("Deployment", "reader"),
        ("PodDisruptionBudget", "hello"),
        ("HorizontalPodAutoscaler", "hello"),
        ("NetworkPolicy", "hello"),
        ("Secret", "postgres-credentials"),
        ("Secret", "catalog-token"),
        ("Secret", "catalog-dns-token"),
        ("Secret", "catalog-read-token"),
        ("Secret", "catalog-services-token"),
        ("Secret", "hello-catalog-token"),
        ("Secret", "reader-catalog-token"),
        ("CustomResourceDefinition", "backupschedules.leapfrog.dev"),
        ("Deployment", "backup-operator"),
        ("Role", "backup-operator"),
        ("RoleBinding", "backup-operator"),
        *(("BackupSchedule", store) for store in STORES),
    ]:
        assert expected in kinds
    # The example's two Flink jobs, each submitted by a Job of its own.
    submits = sorted(n.rsplit("-", 1)[0] for k, n in kinds if k == "Job" and "flink-job" in n)
    assert submits == ["flink-job-events-per-minute", "flink-job-service-stats"]
    # Generated secrets exist in the cluster, and never appeared in apply's output.
    secret = deployed.get("secret", "postgres-credentials")
    assert {"postgres", "app", "message_store", "DATABASE_URL"} <= set(secret["data"])
    for value in secret["data"].values():
        assert base64.b64decode(value).decode() not in deployed.first_output


CATALOG_TOKENS = {
    "catalog-token", "catalog-dns-token", "catalog-read-token", "catalog-services-token",
    "hello-catalog-token", "reader-catalog-token",
}  # fmt: skip


def test_each_workload_in_the_cluster_holds_only_its_catalog_token(deployed: Deployed) -> None:
    """As the API server stored them: the management token only in the Consul server and
    the ACL Job, the read-only one in the load balancer, each service's own in it (and
    its init container, which waits until the Job has made it)."""
    held: dict[str, set[str]] = {}
    for item in deployed.get("deployments,statefulsets,jobs")["items"]:
        name = item["metadata"]["name"]
        if item["kind"] == "Job":
            name = name.rsplit("-", 1)[0]
        pod = item["spec"]["template"]["spec"]
        refs = {
            e["valueFrom"]["secretKeyRef"]["name"]
            for c in [*pod.get("initContainers", []), *pod["containers"]]
            for e in c.get("env", [])
            if "secretKeyRef" in e.get("valueFrom", {})
        }
        refs |= {v["secret"]["secretName"] for v in pod.get("volumes", []) if "secret" in v}
        held[name] = refs & CATALOG_TOKENS
    assert held.pop("catalog") == {"catalog-token"}
    assert held.pop("catalog-acl") == CATALOG_TOKENS
    assert held.pop("lb") == {"catalog-read-token"}
    assert held.pop("hello") == {"hello-catalog-token"}
    assert held.pop("reader") == {"reader-catalog-token"}
    assert all(not refs for refs in held.values()), held
    for secret in CATALOG_TOKENS:  # generated, each its own value
        assert set(deployed.get("secret", secret)["data"]) == {"token"}
    values = {deployed.get("secret", s)["data"]["token"] for s in CATALOG_TOKENS}
    assert len(values) == len(CATALOG_TOKENS)


def test_every_workload_rolls_out_to_ready(deployed: Deployed) -> None:
    names = workloads(deployed.data, deployed.plane)
    # with the pipelines, the console, Grafana, OpenSearch Dashboards, Flink's two and the
    # backup operator
    assert len(names) == 17, names
    for name in names:
        kind, _, short = name.partition("/")
        kind = kind.split(".")[0]
        lines = deployed.cli("rollout", "status", f"{kind}/{short}", "--timeout", "180s", "--json")
        final = json.loads(lines.stdout.splitlines()[-1])
        assert final["done"] and final["ready"] == final["desired"] >= 1, final
    pods = deployed.get("pods", "-l", "app.kubernetes.io/name=hello")["items"]
    assert len(pods) == 2
    assert all(p["status"]["phase"] == "Running" for p in pods)


def test_rollout_status_of_an_unknown_name_is_a_clear_error(deployed: Deployed) -> None:
    result = run_cli(
        "rollout", "status", "nothing-here", "-f", str(deployed.stack),
        "--kubeconfig", str(deployed.plane.kubeconfig), "--timeout", "5s",
    )  # fmt: skip
    assert result.code == 1
    assert "no Deployment or StatefulSet named nothing-here" in result.output
    assert "Traceback" not in result.output


def test_reapply_changes_nothing(deployed: Deployed) -> None:
    changes = deployed.apply("--wait", "60s")  # everything is rolled out: returns at once
    changed = [c for c in changes if c["action"] != "unchanged"]
    assert changed == []
    assert len(changes) == len(deployed.first)


class _Watch(threading.Thread):
    """Every status the API server reports for the Deployment during the rollout (a watch
    stream, so no transition is missed between samples)."""

    def __init__(self, plane: ControlPlane, name: str) -> None:
        super().__init__(daemon=True)
        self.client = connect(plane.kubeconfig, None)
        self.name = name
        self.seen: list[dict[str, Any]] = []
        current = self.client.get(Deployment, name, namespace=NAMESPACE)
        self.version = current.metadata.resourceVersion if current.metadata else None
        self.done = threading.Event()
        self.error: Exception | None = None

    def run(self) -> None:
        stream = self.client.watch(
            Deployment,
            namespace=NAMESPACE,
            fields={"metadata.name": self.name},
            resource_version=self.version,
        )
        try:
            for _kind, obj in stream:
                self.seen.append(obj.status.to_dict() if obj.status else {})
                if self.done.is_set():
                    return
        except Exception as exc:  # the stream also ends when the control plane stops
            self.error = exc


@pytest.fixture
def watch(deployed: Deployed) -> Iterator[_Watch]:
    watcher = _Watch(deployed.plane, "hello")
    watcher.start()
    yield watcher
    watcher.done.set()


def test_a_version_change_rolls_with_no_unavailable_replica(
    deployed: Deployed, watch: _Watch
) -> None:
    deployed.data["services"]["hello"]["version"] = "1.1.0"
    deployed.write()
    changes = {(c["kind"], c["name"]): c["action"] for c in deployed.apply()}
    assert changes[("Deployment", "hello")] == "configured"
    assert changes[("Deployment", "reader")] == "unchanged"
    result = deployed.cli("rollout", "status", "hello", "--timeout", "180s", "--json")
    statuses = [json.loads(line) for line in result.stdout.splitlines()]
    assert statuses[-1]["done"]
    assert all(s["unavailable"] == 0 for s in statuses), statuses
    seen = list(watch.seen)
    assert watch.error is None, watch.error
    # The watch saw the rollout itself: a surge pod, or replicas not yet updated ...
    assert any(s.get("replicas", 0) > 2 or s.get("updatedReplicas", 0) < 2 for s in seen), seen
    # ... and with maxUnavailable 0, both replicas stayed available all through it (the
    # status's own unavailableReplicas also counts the surge pod while it starts).
    assert all(s.get("availableReplicas", 0) >= 2 for s in seen), seen
    pods = deployed.get("pods", "-l", "app.kubernetes.io/name=hello")["items"]
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    images = {c["image"] for p in live for c in p["spec"]["containers"]}
    assert images == {"registry.example.com/example/hello:1.1.0"}


def test_a_removed_service_is_pruned(deployed: Deployed) -> None:
    del deployed.data["services"]["reader"]
    deployed.write()
    changes = deployed.apply()
    pruned = {(c["kind"], c["name"]) for c in changes if c["action"] == "pruned"}
    # Its own catalog token's Secret goes too, and the catalog Job that mounted it is
    # replaced (a new name: its env changed).
    jobs = {name for kind, name in pruned if kind == "Job"}
    assert pruned - {("Job", name) for name in jobs} == {
        ("Deployment", "reader"),
        ("Service", "reader"),
        ("PodDisruptionBudget", "reader"),
        ("NetworkPolicy", "reader"),
        ("ServiceAccount", "reader"),
        ("Secret", "reader-catalog-token"),
    }
    assert [name.rsplit("-", 1)[0] for name in jobs] == ["catalog-acl"]
    left = deployed.plane.kubectl("get", "-n", NAMESPACE, "deployment", "reader", check=False)
    assert left.returncode != 0 and "NotFound" in left.stderr
    assert deployed.get("deployment", "hello")["metadata"]["name"] == "hello"
    again = deployed.apply()
    assert {c["action"] for c in again} == {"unchanged"}


def _server_dry_run(control_plane: ControlPlane, data: dict[str, Any], tmp_path: Path) -> None:
    """Render `data` with its Secrets and have the API server dry-run every object."""
    data["kubernetes"]["write_secrets"] = True  # the Secrets are checked too
    stack = tmp_path / "leapfrog.yaml"
    stack.write_text(yaml.safe_dump(data, sort_keys=False))
    out = tmp_path / "rendered"
    result = run_cli("render", "-f", str(stack), "-o", str(out))
    assert result.code == 0, result.output
    # A dry run cannot place objects in a namespace that does not exist yet, nor objects
    # of a kind the cluster does not know yet: the namespace and the CRDs go first.
    control_plane.kubectl("apply", "-f", str(out / "00-namespace.yaml"))
    crds = [
        doc
        for path in out.glob("*.yaml")
        for doc in yaml.safe_load_all(path.read_text())
        if doc and doc["kind"] == "CustomResourceDefinition"
    ]
    if crds:
        control_plane.kubectl(
            "apply", "--server-side", "--force-conflicts", "-f", "-",
            input=yaml.safe_dump_all(crds),
        )  # fmt: skip
        control_plane.kubectl(
            "wait", "--for=condition=Established", "--timeout=60s",
            *(f"crd/{c['metadata']['name']}" for c in crds),
        )  # fmt: skip
    checked = control_plane.kubectl("apply", "--dry-run=server", "-f", str(out))
    lines = [line for line in checked.stdout.splitlines() if line.strip()]
    expected = sum(
        1 for path in out.glob("*.yaml") for doc in yaml.safe_load_all(path.read_text()) if doc
    )
    assert len(lines) == expected
    assert all("(server dry run)" in line for line in lines), lines


def test_kubectl_server_dry_run_accepts_every_rendered_object(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    _server_dry_run(control_plane, example_data(namespace="example-dry-run"), tmp_path)


def test_kubectl_server_dry_run_accepts_a_stack_with_identity_on(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    """Identity on (the example routes services through the load balancer, which is
    refused with identity on Kubernetes): Connect on the server, the services' own
    tokens, the Job with the intentions, HTTPS probes."""
    serve = {"image": "registry.example.com/x", "port": 8000, "check": {"http": "/health/ready"}}
    data = {
        "name": "mesh",
        "identity": True,
        "services": {
            "web": {**serve, "command": "web", "depends_on": ["api"]},
            "api": {**serve, "command": "api", "kv": ["api/"]},
        },
        "kubernetes": {"namespace": "identity-dry-run"},
    }
    _server_dry_run(control_plane, data, tmp_path)


def test_a_dry_run_reports_without_changing(deployed: Deployed) -> None:
    deployed.data["services"]["hello"]["version"] = "9.9.9"
    deployed.write()
    result = deployed.cli("apply", "--dry-run", "--json")
    changes = {(c["kind"], c["name"]): c["action"] for c in json.loads(result.stdout)}
    assert changes[("Deployment", "hello")] == "configured"
    assert changes[("StatefulSet", "kafka")] == "unchanged"
    container = deployed.get("deployment", "hello")["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example.com/example/hello:1.1.0"
