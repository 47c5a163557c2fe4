"""A backup Job that runs for real: the backup operator (kopf's `KopfRunner`, the CLI's
handlers, logged in as the rendered ServiceAccount) makes the Job of a ZooKeeper Backup
with leapfrog's own image (`leapfrog image build`, imported into the real node), and the
real node's kubelet runs it in containerd: the engine in the image takes a snapshot of a
real ZooKeeper over the pod network and writes it into a local PersistentVolume, as the
image's non-root user, under Pod Security "restricted".

ZooKeeper runs in the pods' network namespace on the bridge's address, published as the
Service `zookeeper` (no selector, an EndpointSlice naming that address), so the Job
reaches it by the name the operator gives it, through CoreDNS and kube-proxy. The
test's namespace sends its pods to the real node (`RealNode.namespace_annotations`:
the apiserver's PodNodeSelector and PodTolerationRestriction), and the claim is bound to
a `local` volume on that node: what the operator renders is left as users get it.

The Backup asks for no verify: verify restores into a scratch ZooKeeper, a JVM the image
does not hold. The test verifies the backup the Job wrote with `leapfrog backup verify`
on this machine instead.

After test_real_node.py (its first test needs the machine's only node to itself)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kazoo.client import KazooClient
from kopf.testing import KopfRunner

from leapfrog.backup._zk_tree import server_tree
from leapfrog.backup.kube_operator import registry
from leapfrog.runtime.kubernetes import render_stack
from leapfrog.runtime.kubernetes.images._recipe import UID
from leapfrog.spec import load_stack
from leapfrog.testing import RealNode, RunningComponent, run_component, scratch_dir
from tests.kubernetes.conftest import wait_for

# As test_images.py: on a fresh machine the image's first build (mmdebstrap) takes minutes.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]

STORAGE_CLASS = "leapfrog-real-node-local"
ZK_OPTIONS = {"port": 2181, "admin_port": 8080, "snapshot_interval_ms": 0}


def rendered(namespace: str, where: Path) -> list[dict[str, Any]]:
    """The objects `leapfrog render` makes of a stack whose ZooKeeper has `backups:`."""
    stack = where / "leapfrog.yaml"
    data = {
        "name": "rn",
        "components": {"zookeeper": {"backups": {}}, "backups": {}},
        "kubernetes": {"namespace": namespace},
    }
    stack.write_text(yaml.safe_dump(data))
    return render_stack(load_stack(stack)).objects


def kubectl_json(node: RealNode, *args: str) -> Any:
    done = node.plane.kubectl("get", *args, "-o", "json", check=False)
    return json.loads(done.stdout) if done.returncode == 0 else None


@pytest.fixture(scope="module")
def zookeeper(
    real_node: RealNode, cluster: tuple[str, Path, list[dict[str, Any]]]
) -> Iterator[RunningComponent]:
    """A real ZooKeeper (the component leapfrog installs) in the pods' network namespace,
    on the bridge's address: pods reach it, the host's addresses never carry it."""
    real_node.ensure_gateway(cluster[0])
    with (
        scratch_dir("lf-rn-zk-") as base,
        run_component(
            "zookeeper", ZK_OPTIONS, base, address=real_node.pod_gateway, start=False
        ) as running,
    ):
        began = time.monotonic()
        real_node.call_in_pod_network(running.start)
        print(f"ZooKeeper healthy in the pods' network {time.monotonic() - began:.1f} s")
        yield running


@pytest.fixture(scope="module")
def cluster(
    real_node: RealNode, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path, list[dict[str, Any]]]]:
    """(a namespace whose pods go to the real node, the folder of its backups' local
    PersistentVolume, the rendered objects): the CRDs, the operator's account and the
    Service `zookeeper` to the gateway in place; removed afterwards."""
    plane = real_node.plane
    namespace = f"bkreal-{uuid.uuid4().hex[:8]}"
    objects = rendered(namespace, tmp_path_factory.mktemp("stack"))
    crds = [o for o in objects if o["kind"] == "CustomResourceDefinition"]
    # --force-conflicts: the operator tests or `leapfrog apply` may have applied them first.
    plane.kubectl(
        "apply", "--server-side", "--force-conflicts", "-f", "-", input=yaml.safe_dump_all(crds)
    )
    names = [f"crd/{c['metadata']['name']}" for c in crds]
    plane.kubectl("wait", "--for=condition=Established", "--timeout=60s", *names)
    namespace_object = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": namespace, "annotations": RealNode.namespace_annotations()},
    }
    plane.kubectl("apply", "-f", "-", input=json.dumps(namespace_object))
    plane.kubectl("wait", "-n", namespace, "serviceaccount/default", "--for=create",
                  "--timeout=30s")  # fmt: skip
    volume = Path(tmp_path_factory.mktemp("backups-volume"))
    # The image's user writes there (a local volume gets no fsGroup ownership change).
    os.chown(volume, UID, UID)
    volume.chmod(0o750)
    pv_name = f"{namespace}-backups"
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "backups-zookeeper"},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": STORAGE_CLASS,
            "volumeName": pv_name,
            "resources": {"requests": {"storage": "1Gi"}},
        },
    }
    rbac = [o for o in objects if o["kind"] in ("ServiceAccount", "Role", "RoleBinding")]
    service = RealNode.gateway_service("zookeeper", {"zookeeper": 2181, "admin": 8080})
    try:
        plane.kubectl("apply", "-f", "-", input=json.dumps(
            real_node.local_volume(pv_name, volume, STORAGE_CLASS)))  # fmt: skip
        plane.kubectl("apply", "-n", namespace, "-f", "-",
                      input=yaml.safe_dump_all([claim, *rbac, *service]))  # fmt: skip
        yield namespace, volume, objects
    finally:
        plane.kubectl("delete", "namespace", namespace, "--wait=false")
        plane.kubectl("delete", "pv", pv_name, "--wait=false", check=False)
        shutil.rmtree(volume, ignore_errors=True)


def operator_kubeconfig(node: RealNode, namespace: str) -> Path:
    """A kubeconfig holding a token of the rendered operator ServiceAccount."""
    plane = node.plane
    token = plane.kubectl("create", "token", "backup-operator", "-n", namespace).stdout.strip()
    config = yaml.safe_load(plane.kubeconfig.read_text())
    config["users"][0]["user"] = {"token": token}
    path = plane.workdir / f"{namespace}-operator.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


def write_znodes(node: RealNode) -> dict[str, str]:
    """Znodes written from the pods' network (the server is there only); the tree."""

    def write() -> dict[str, str]:
        client = KazooClient(hosts=f"{node.pod_gateway}:2181", timeout=10)
        client.start(timeout=30)
        try:
            for i in range(20):
                client.create(f"/real/items/{i:03d}", f"item {i}".encode(), makepath=True)
            tree: dict[str, str] = server_tree(client)[0]
            return tree
        finally:
            client.stop()
            client.close()

    return node.call_in_pod_network(write, timeout=120)


def test_the_operator_s_backup_job_runs_on_the_real_node(
    real_node: RealNode,
    leapfrog_image: str,
    zookeeper: RunningComponent,
    cluster: tuple[str, Path, list[dict[str, Any]]],
) -> None:
    namespace, volume, objects = cluster
    plane = real_node.plane
    tree = write_znodes(real_node)
    assert "/real/items/019" in tree
    (schedule,) = [o for o in objects if o["kind"] == "BackupSchedule"]
    spec = {**schedule["spec"], "verify": False, "deadlineSeconds": 240}
    backup = {
        "apiVersion": "leapfrog.dev/v1alpha1",
        "kind": "Backup",
        "metadata": {"name": "zkreal", "namespace": namespace},
        "spec": spec,
    }
    config = operator_kubeconfig(real_node, namespace)
    args = ["run", "--standalone", "--namespace", namespace]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KUBECONFIG", str(config))
        with KopfRunner(args, registry=registry(1.0, leapfrog_image), timeout=60) as runner:
            began = time.monotonic()
            plane.kubectl("apply", "-f", "-", input=json.dumps(backup))

            def ended() -> Any:
                found = kubectl_json(real_node, "backup", "zkreal", "-n", namespace)
                phase = (found or {}).get("status", {}).get("phase")
                return found if phase in ("Succeeded", "Failed") else None

            def seen() -> Any:
                return (
                    kubectl_json(real_node, "backup", "zkreal", "-n", namespace),
                    kubectl_json(real_node, "pods", "-n", namespace),
                )

            done = wait_for("the Backup to end", ended, 240, seen)
            took = time.monotonic() - began
    assert runner.exception is None, runner.output
    status = done["status"]
    pods = kubectl_json(real_node, "pods", "-n", namespace, "-l", "job-name=zkreal")["items"]
    assert status["phase"] == "Succeeded", (status, pods, real_node.tail("kubelet"))
    print(f"Backup Succeeded {took:.1f} s after it was created (Job, pod, run on the node)")
    conditions = {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}
    assert conditions == {
        "Completed": ("True", "JobComplete"),
        "Verified": ("False", "NotRequested"),
    }

    # The kubelet ran it: the pod is on the real node, finished by containerd.
    (pod,) = pods
    assert pod["spec"]["nodeName"] == real_node.name
    assert pod["status"]["phase"] == "Succeeded"
    known = set(real_node.ctr("containers", "list", "-q").split())
    for state in [*pod["status"]["initContainerStatuses"], *pod["status"]["containerStatuses"]]:
        assert state["image"].endswith(leapfrog_image.partition("/")[2]), state
        ended_state = state["state"]["terminated"]
        assert ended_state["exitCode"] == 0 and ended_state["reason"] == "Completed", state
        runtime, _, container_id = state["containerID"].partition("://")
        assert runtime == "containerd" and container_id in known
    # What the run took reached the Backup from the termination message the kubelet read.
    assert status["position"].startswith("zxid 0x") and status["objects"] >= 1

    # The objects and manifest are in the volume's folder, written by the image's user.
    backup_dir = volume / "zookeeper" / "backups" / status["backupId"]
    manifest_path = backup_dir / "manifest.json"
    assert manifest_path.is_file(), sorted(str(p) for p in volume.rglob("*"))
    assert manifest_path.stat().st_uid == UID
    manifest = json.loads(manifest_path.read_text())
    assert status["manifest"] == f"zookeeper/backups/{status['backupId']}/manifest.json"
    stored = sorted(p.name for p in backup_dir.iterdir() if p.name != "manifest.json")
    assert stored and all(name.startswith("snapshot.") for name in stored), stored
    assert manifest["facts"]["data"] == tree

    # Read back on this machine: restored into a scratch ZooKeeper, every znode compared.
    with scratch_dir("lf-rn-verify-") as history:
        leapfrog = str(Path(sys.executable).parent / "leapfrog")
        verified = subprocess.run(
            [leapfrog, "backup", "verify", "zookeeper", "--store-kind", "zookeeper",
             "--address", f"{real_node.pod_gateway}:2181", "--port", "admin=8080",
             "--storage", str(volume), "--history", str(history),
             "--backup", status["backupId"], "--json"],
            capture_output=True, text=True, timeout=180, check=False,
        )  # fmt: skip
    assert verified.returncode == 0, (verified.stdout, verified.stderr)
    record = json.loads(verified.stdout)
    assert record["state"] == "succeeded", record
    assert f"{len(tree)} znodes match the manifest" in json.dumps(record), record
