"""A real control plane for the Kubernetes tier, started once per session, and a real node
(containerd + kubelet) beside it for the tests that run containers.

scripts/kube-tools.sh builds the binaries when they are missing (a no-op when cached),
scripts/coredns.sh the real node's cluster DNS, and the real node's Debian packages are
installed when missing, so `.venv/bin/pytest
tests/kubernetes` works alone on a fresh machine too. Both run after collection rather than
in a fixture, so a cold build is not cut short by a test timeout."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from leapfrog.testing import (
    ControlPlane,
    RealNode,
    install_node_packages,
    node_name,
    real_node_unavailable,
    run_cli,
)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
REAL_NODE_TESTS = "test_real_node"


def pytest_collection_finish(session: pytest.Session) -> None:
    if any(HERE in item.path.parents for item in session.items):
        subprocess.run([ROOT / "scripts" / "kube-tools.sh"], check=True)
    if any(item.path.stem.startswith(REAL_NODE_TESTS) for item in session.items):
        subprocess.run([ROOT / "scripts" / "coredns.sh"], check=True)
        install_node_packages(lambda line: print(f"real node: {line}", flush=True))


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with ControlPlane(tmp_path_factory.mktemp("kube"), kubelets=[node_name()]) as plane:
        yield plane


@pytest.fixture(scope="session")
def real_node(
    control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RealNode]:
    """A kubelet + containerd node joined to the session's control plane, started once."""
    why = real_node_unavailable()
    if why:
        pytest.skip(f"this machine cannot run a real node: {why}")
    node = RealNode(control_plane, tmp_path_factory.mktemp("real-node"))
    node.start()
    try:
        yield node
    finally:
        node.stop()
    left = node.leftovers()
    assert not left, f"the real node left behind: {left}"


@pytest.fixture(scope="session")
def leapfrog_image(real_node: RealNode, tmp_path_factory: pytest.TempPathFactory) -> str:
    """leapfrog's own image, from `leapfrog image build` (the cache's build when the
    sources did not change, else built anew), imported into the real node once: its tag."""
    result = run_cli(
        "image", "build", "--json", cwd=tmp_path_factory.mktemp("no-stack"), timeout=1100
    )
    assert result.code == 0, result.stderr
    (own,) = json.loads(result.stdout)["images"]
    took = real_node.import_image(Path(own["archive"]))
    print(f"leapfrog's image {own['reference']}: built/cached {own['seconds']} s, "
          f"imported {took:.1f} s", flush=True)  # fmt: skip
    return str(own["reference"])


T = TypeVar("T")


def wait_for(
    what: str,
    probe: Callable[[], T | None],
    timeout: float = 90.0,
    seen: Callable[[], Any] = lambda: None,
) -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        assert time.monotonic() < deadline, f"waited {timeout:.0f} s for {what}: {seen()}"
        time.sleep(0.5)


# Helpers of the real-node tests.

# busybox's httpd answering GET /ping with pong-<pod name>.
SERVE = "mkdir -p /tmp/www && echo pong-$(hostname) > /tmp/www/ping && httpd -f -p 8080 -h /tmp/www"


def get(plane: ControlPlane, *args: str) -> Any:
    return json.loads(plane.kubectl("get", *args, "-o", "json").stdout)


def apply(plane: ControlPlane, namespace: str, *objects: dict[str, Any]) -> None:
    plane.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(objects))


def pod(name: str, *containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": RealNode.pod_spec(containers, **spec),
    }


def wait_ready(plane: ControlPlane, namespace: str, *names: str) -> None:
    plane.kubectl(
        "wait", "-n", namespace, *(f"pod/{n}" for n in names),
        "--for=condition=Ready", "--timeout=90s",
    )  # fmt: skip


def new_namespace(plane: ControlPlane) -> str:
    name = f"real-{uuid.uuid4().hex[:8]}"
    plane.kubectl("create", "namespace", name)
    # Pods are admitted only once the namespace has its default ServiceAccount.
    plane.kubectl("wait", "-n", name, "serviceaccount/default", "--for=create", "--timeout=30s")
    return name


@pytest.fixture
def namespace(real_node: RealNode) -> Iterator[str]:
    name = new_namespace(real_node.plane)
    yield name
    real_node.plane.kubectl("delete", "namespace", name, "--wait=false")
