"""A real node beside the test control plane: kubelet + containerd + runc run real
containers from images built here (busybox-static, no registry), under Pod Security
"restricted"; logs, exec, pod-to-pod TCP over the CNI bridge, Services through kube-proxy
(its rules in the pods' network namespace, never the host's) and memory limits work; and
the node leaves nothing of itself on the host when it stops.

The first test runs a node of its own and must run before the session's node starts (one
real node per machine): keep it first in this file."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from leapfrog.testing import ControlPlane, RealNode, real_node_unavailable
from tests.kubernetes.conftest import SERVE, apply, get, new_namespace, pod, wait_ready

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

CGROUPS = Path("/sys/fs/cgroup")


def test_the_node_leaves_nothing_behind(
    control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A node of its own, with a container running, then stopped: no process, mount,
    network interface or cgroup of it is left on the host."""
    why = real_node_unavailable()
    if why:
        pytest.skip(f"this machine cannot run a real node: {why}")
    node = RealNode(control_plane, tmp_path_factory.mktemp("own-node"))
    namespace = ""
    try:
        node.start()
        namespace = new_namespace(control_plane)
        apply(
            control_plane, namespace, pod("sleeper", {"name": "main", "command": ["sleep", "3600"]})
        )
        wait_ready(control_plane, namespace, "sleeper")
        node_pids = node.pids()
        tasks = node.ctr("tasks", "list", "-q").split()
        container_pids = [
            int(line.split()[1]) for line in node.ctr("tasks", "list").splitlines()[1:]
        ]
        assert len(tasks) == 2, tasks  # the sandbox and the container
        # The bridge is in the pods' own network namespace, not the host's.
        assert not (Path("/sys/class/net") / "lf-node0").exists()
        assert "lf-node0" in node.in_pod_network("ip", "link").stdout
        assert [p for p in CGROUPS.glob("*/kubepods") if p.is_dir()]
    finally:
        node.stop()
        if namespace:
            control_plane.kubectl("delete", "namespace", namespace, "--wait=false")
    assert node.leftovers() == []
    for pid in [*node_pids.values(), *container_pids]:
        assert not Path(f"/proc/{pid}").exists(), pid
    assert not (Path("/sys/class/net") / "lf-node0").exists()
    assert not [p for p in CGROUPS.glob("*/kubepods") if p.is_dir()]
    mounts = Path("/proc/self/mountinfo").read_text()
    assert str(node.layout.root) not in mounts
    assert " /var/lib/kubelet " not in mounts and " /run/containerd " not in mounts
    assert control_plane.kubectl("get", "node", node.name, check=False).returncode != 0


def test_restricted_deployment_runs_real_containers(real_node: RealNode, namespace: str) -> None:
    plane = real_node.plane
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "hello"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "hello"}},
            "template": {
                "metadata": {"labels": {"app": "hello"}},
                "spec": RealNode.pod_spec(
                    [
                        {
                            "name": "main",
                            "command": ["sh", "-c", "echo hello from $(hostname); sleep 3600"],
                        }
                    ]
                ),
            },
        },
    }
    began = time.monotonic()
    apply(plane, namespace, deployment)
    plane.kubectl("rollout", "status", "-n", namespace, "deployment/hello", "--timeout=90s")
    print(f"Deployment Running {time.monotonic() - began:.2f} s after apply")
    pods = get(plane, "pods", "-n", namespace, "-l", "app=hello")["items"]
    assert len(pods) == 2
    running = set(real_node.ctr("tasks", "list", "-q").split())
    for item in pods:
        assert item["spec"]["nodeName"] == real_node.name
        assert item["status"]["phase"] == "Running"
        status = item["status"]["containerStatuses"][0]
        assert "running" in status["state"]
        # A container containerd really runs, not a status a fake kubelet wrote.
        runtime, _, container_id = status["containerID"].partition("://")
        assert runtime == "containerd" and container_id in running
        assert item["status"]["podIP"].startswith("10.88.77.")


def test_logs_and_exec(real_node: RealNode, namespace: str) -> None:
    plane = real_node.plane
    command = ["sh", "-c", "echo started as $(id -u); sleep 3600"]
    apply(plane, namespace, pod("talker", {"name": "main", "command": command}))
    wait_ready(plane, namespace, "talker")
    logs = plane.kubectl("logs", "-n", namespace, "talker").stdout
    assert logs.strip() == "started as 65534"
    done = plane.kubectl(
        "exec", "-n", namespace, "talker", "--", "sh", "-c", "id; cat /proc/1/cmdline"
    )
    assert "uid=65534" in done.stdout
    assert "sleep 3600" in done.stdout.replace("\0", " ")
    failed = plane.kubectl(
        "exec", "-n", namespace, "talker", "--", "sh", "-c", "exit 3", check=False
    )
    assert failed.returncode == 3


def test_pods_reach_each_other_over_the_bridge(real_node: RealNode, namespace: str) -> None:
    plane = real_node.plane
    server = pod(
        "server",
        {"name": "main", "command": ["sh", "-c", SERVE], "ports": [{"containerPort": 8080}]},
    )
    client = pod("client", {"name": "main", "command": ["sleep", "3600"]})
    apply(plane, namespace, server, client)
    wait_ready(plane, namespace, "server", "client")
    address = get(plane, "pod", "-n", namespace, "server")["status"]["podIP"]
    fetch = ("exec", "-n", namespace, "client", "--", "wget", "-q", "-O", "-")
    answer, complaint = "", ""
    for _ in range(20):  # httpd may still be binding its port
        done = plane.kubectl(*fetch, f"http://{address}:8080/ping", check=False)
        answer, complaint = done.stdout.strip(), done.stderr.strip()
        if done.returncode == 0:
            break
        time.sleep(0.25)
    assert answer == "pong-server", complaint


def test_services_route_through_kube_proxy_off_the_host(
    real_node: RealNode, namespace: str
) -> None:
    plane = real_node.plane
    backend = pod(
        "backend",
        {"name": "main", "command": ["sh", "-c", SERVE], "ports": [{"containerPort": 8080}]},
    )
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "backend"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }
    apply(plane, namespace, service, backend)
    wait_ready(plane, namespace, "backend")
    # Created after the Service: the kubelet gives it the Service's address in its env.
    apply(plane, namespace, pod("caller", {"name": "main", "command": ["sleep", "3600"]}))
    wait_ready(plane, namespace, "caller")
    cluster_ip = get(plane, "service", "-n", namespace, "web")["spec"]["clusterIP"]
    fetch = ("exec", "-n", namespace, "caller", "--", "sh", "-c")
    answer, complaint = "", ""
    for _ in range(40):  # kube-proxy writes the rules once the endpoints are known
        done = plane.kubectl(*fetch, "wget -q -O - http://$WEB_SERVICE_HOST/ping", check=False)
        answer, complaint = done.stdout.strip(), done.stderr.strip()
        if done.returncode == 0:
            break
        time.sleep(0.25)
    assert answer == "pong-backend", complaint
    env = plane.kubectl(*fetch, "echo $WEB_SERVICE_HOST").stdout.strip()
    assert env == cluster_ip
    # The rules are in the pods' network namespace; the host's netfilter has none of them.
    assert cluster_ip in real_node.in_pod_network("iptables-save").stdout
    host = subprocess.run(["iptables-save"], capture_output=True, text=True, check=True)
    assert "KUBE-SERVICES" not in host.stdout and cluster_ip not in host.stdout


def test_memory_limit_is_enforced(real_node: RealNode, namespace: str) -> None:
    plane = real_node.plane
    # dd's block buffer is 64 MiB of touched memory: twice the limit.
    hog = {
        "name": "main",
        "command": ["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=4"],
        "resources": {"limits": {"memory": "32Mi", "cpu": "200m"}},
    }
    apply(plane, namespace, pod("hog", hog, restartPolicy="Never"))
    plane.kubectl(
        "wait", "-n", namespace, "pod/hog", "--timeout=90s",
        "--for=jsonpath={.status.containerStatuses[0].state.terminated.reason}=OOMKilled",
    )  # fmt: skip
    state = get(plane, "pod", "-n", namespace, "hog")["status"]["containerStatuses"][0]["state"]
    assert state["terminated"]["exitCode"] == 137
