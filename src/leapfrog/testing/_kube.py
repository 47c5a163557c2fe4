"""A real Kubernetes control plane on 127.0.0.1 for tests: etcd, kube-apiserver,
kube-controller-manager and kube-scheduler built from Go modules by scripts/kube-tools.sh,
and KWOK playing the kubelets of fake nodes, so Deployments and StatefulSets roll out to
Ready pods with no container engine on the machine."""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from leapfrog.shared.cache import cache_dir
from leapfrog.shared.errors import LeapfrogError
from leapfrog.testing._kube_files import (
    CONTEXT,
    KWOK_ANNOTATION,
    ClusterFiles,
    admission_config,
    cluster_objects,
    make_cluster_files,
    write_kubeconfig,
)
from leapfrog.testing._kube_procs import Process, answers_ok, free_port

__all__ = ["KUBERNETES_VERSION", "ControlPlane", "KubectlError", "kube_tools_dir"]

KUBERNETES_VERSION = "v1.37.2"
# Where kube-controller-manager's hostPath provisioner puts volumes (fixed in its code).
_PROVISIONED = Path("/tmp/hostpath_pv")
_TOOLS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok")


def kube_tools_dir() -> Path:
    """Where scripts/kube-tools.sh leaves the binaries (bin/) and KWOK's stages."""
    return cache_dir() / "kubernetes" / KUBERNETES_VERSION


class KubectlError(subprocess.CalledProcessError):
    """A failed kubectl run, whose message carries kubectl's own complaint."""

    def __str__(self) -> str:
        return f"{super().__str__()}\n{self.stderr}"


class ControlPlane:
    """etcd + kube-apiserver + controller-manager + scheduler + KWOK with `nodes` fake nodes.

    `kubeconfig` is an admin kubeconfig (context "leapfrog-test"), `server` the apiserver's
    URL. Pod Security "restricted" is enforced in every namespace except kube-system. Claims
    of the default StorageClass "standard" are bound by the controller-manager's hostPath
    provisioner. Use as a context manager, or start()/stop().

    `kubelets` names real nodes that may join (leapfrog.testing.RealNode): each gets a
    node token (group system:nodes), and the apiserver reaches kubelets by host name, which
    resolves to 127.0.0.1 where they listen."""

    version = KUBERNETES_VERSION

    def __init__(
        self,
        workdir: Path,
        *,
        nodes: int = 3,
        kubelets: Sequence[str] = (),
        start_timeout: float = 90.0,
    ) -> None:
        self.workdir = workdir
        self.nodes = nodes
        self.kubelets = tuple(kubelets)
        self.start_timeout = start_timeout
        self.tools = kube_tools_dir()
        self.bin = self.tools / "bin"
        self.kubeconfig = workdir / "admin.kubeconfig"
        self.server = ""
        self._etcd = ""
        self.started_in = 0.0
        self._files: ClusterFiles | None = None
        self._processes: list[Process] = []
        self._health: dict[str, str] = {}

    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def start(self) -> None:
        missing = [tool for tool in _TOOLS if not (self.bin / tool).is_file()]
        if missing:
            raise LeapfrogError(
                f"Kubernetes test tools missing in {self.bin}: {', '.join(missing)}",
                hint="run scripts/kube-tools.sh to build them",
            )
        began = time.monotonic()
        self.workdir.mkdir(parents=True, exist_ok=True)
        files = self._files = make_cluster_files(self.workdir / "pki", self.kubelets)
        try:
            self._start_etcd()
            self._start_apiserver(files)
            self._start_controllers(files)
            self.kubectl("apply", "-f", "-", input=cluster_objects(self.nodes, self.version))
            self.wait_ready(self.start_timeout - (time.monotonic() - began))
        except BaseException:
            self.stop()
            raise
        self.started_in = time.monotonic() - began

    def stop(self) -> None:
        self._remove_provisioned_volumes()
        for process in reversed(self._processes):
            process.stop()
        self._processes.clear()

    def _remove_provisioned_volumes(self) -> None:
        """The hostPath provisioner makes a directory under /tmp for each volume; the
        volumes die with this cluster, so their directories go too."""
        if self._files is None or not self.server:
            return
        try:
            volumes = self.api("/api/v1/persistentvolumes")["items"]
        except (OSError, urllib.error.URLError, ValueError):
            return
        for volume in volumes:
            path = Path(volume["spec"].get("hostPath", {}).get("path", "/"))
            if path.parent == _PROVISIONED:
                shutil.rmtree(path, ignore_errors=True)

    def write_kubelet_kubeconfig(self, name: str, path: Path, server: str | None = None) -> Path:
        """A kubeconfig for the kubelet of node `name` (one of `kubelets`), reaching the
        apiserver at `server` (a 127.0.0.1 address; the apiserver's own by default)."""
        return self._node_kubeconfig(f"system:node:{name}", path, server or self.server)

    def write_kube_proxy_kubeconfig(self, path: Path, server: str) -> Path:
        """A kubeconfig for kube-proxy (user system:kube-proxy), reaching the apiserver at
        `server` (the same certificate: it must be a 127.0.0.1 address)."""
        return self._node_kubeconfig("system:kube-proxy", path, server)

    def write_coredns_kubeconfig(self, path: Path, server: str) -> Path:
        """A kubeconfig for the real node's CoreDNS (user system:coredns), reaching the
        apiserver at `server` (a 127.0.0.1 address, as for kube-proxy)."""
        return self._node_kubeconfig("system:coredns", path, server)

    def _node_kubeconfig(self, user: str, path: Path, server: str) -> Path:
        assert self._files is not None, "the control plane is not started"
        if user not in self._files.tokens:
            raise LeapfrogError(
                f"the control plane has no credentials for {user}",
                hint="start it with ControlPlane(..., kubelets=[node name])",
            )
        return write_kubeconfig(path, server, self._files.ca, user, self._files.tokens[user])

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run the kubectl built with this control plane against it (admin credentials)."""
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        command = [str(self.bin / "kubectl"), "--context", CONTEXT, *args]
        done = subprocess.run(
            command, input=input, capture_output=True, text=True, env=env, timeout=120, check=False
        )
        if check and done.returncode != 0:
            raise KubectlError(done.returncode, command, done.stdout, done.stderr)
        return done

    def api(self, path: str) -> Any:
        """GET an API path as the admin and return the decoded JSON."""
        assert self._files is not None
        context = ssl.create_default_context(cafile=str(self._files.ca))
        request = urllib.request.Request(
            self.server + path,
            headers={"Authorization": f"Bearer {self._files.tokens['admin']}"},
        )
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return json.loads(response.read())

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until every program answers its health check, every fake node is Ready and the
        default namespace has its ServiceAccount (the token controller works)."""
        deadline = time.monotonic() + max(timeout, 1.0)
        pending = "the control plane"
        while time.monotonic() < deadline:
            for process in self._processes:
                process.check_alive()
            pending = self._not_ready()
            if not pending:
                return
            time.sleep(0.25)
        logs = "\n\n".join(f"== {p.name}\n{p.tail(10)}" for p in self._processes)
        raise LeapfrogError(
            f"the control plane was not ready in {timeout:.0f} s: {pending}\n{logs}"
        )

    def _not_ready(self) -> str:
        for name in self._health:
            if not self._healthy(name):
                return f"{name} health check {self._health[name]}"
        try:
            nodes = self.api("/api/v1/nodes")["items"]
            ready = [n for n in nodes if _condition(n, "Ready") and _is_fake(n)]
            if len(ready) < self.nodes:
                return f"{len(ready)} of {self.nodes} nodes Ready"
            self.api("/api/v1/namespaces/default/serviceaccounts/default")
        except (OSError, urllib.error.URLError, ValueError) as exc:
            return f"the API ({exc})"
        return ""

    def _healthy(self, name: str) -> bool:
        url = self._health[name]
        if name == "kube-apiserver" and self._files is not None:
            return answers_ok(url, self._files.ca, self._files.tokens["admin"])
        return answers_ok(url)

    def _spawn(self, name: str, *args: str) -> Process:
        process = Process(name, [str(self.bin / name), *args], self.workdir / f"{name}.log")
        self._processes.append(process)
        process.start()
        return process

    def _start_etcd(self) -> None:
        client, peer = free_port(), free_port()
        url, peer_url = f"http://127.0.0.1:{client}", f"http://127.0.0.1:{peer}"
        self._spawn(
            "etcd",
            "--name=leapfrog-test",
            f"--data-dir={self.workdir / 'etcd'}",
            f"--listen-client-urls={url}",
            f"--advertise-client-urls={url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=leapfrog-test={peer_url}",
            # A test cluster's data is thrown away: no fsync keeps a shared disk calm.
            "--unsafe-no-fsync",
            "--log-level=warn",
        )
        self._etcd = url
        self._health["etcd"] = f"{url}/health"

    def _start_apiserver(self, files: ClusterFiles) -> None:
        port = free_port()
        self.server = f"https://127.0.0.1:{port}"
        admission = self.workdir / "admission.yaml"
        admission.write_text(admission_config())
        self._spawn(
            "kube-apiserver",
            f"--etcd-servers={self._etcd}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            # A loopback address cannot back the kubernetes Service's endpoints.
            "--endpoint-reconciler-type=none",
            f"--secure-port={port}",
            f"--tls-cert-file={files.server_cert}",
            f"--tls-private-key-file={files.server_key}",
            f"--client-ca-file={files.ca}",
            f"--token-auth-file={files.tokens_csv}",
            "--authorization-mode=Node,RBAC",
            f"--admission-control-config-file={admission}",
            # A namespace's annotations may send its pods to the real node (RealNode.
            # namespace_annotations); without them these two change nothing.
            "--enable-admission-plugins=PodNodeSelector,PodTolerationRestriction",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={files.sa_pub}",
            f"--service-account-signing-key-file={files.sa_key}",
            "--service-cluster-ip-range=10.96.0.0/16",
            "--allow-privileged=false",
            "--profiling=false",
            # A real node's kubelet listens on 127.0.0.1 under the machine's host name.
            "--kubelet-preferred-address-types=Hostname,InternalIP",
        )
        self._health["kube-apiserver"] = f"{self.server}/readyz"
        write_kubeconfig(self.kubeconfig, self.server, files.ca, "admin", files.tokens["admin"])
        self._wait_health("kube-apiserver")

    def _start_controllers(self, files: ClusterFiles) -> None:
        def config(user: str, name: str) -> str:
            path = self.workdir / f"{name}.kubeconfig"
            return str(write_kubeconfig(path, self.server, files.ca, user, files.tokens[user]))

        kcm_port, scheduler_port = free_port(), free_port()
        self._spawn(
            "kube-controller-manager",
            f"--kubeconfig={config('system:kube-controller-manager', 'controller-manager')}",
            "--bind-address=127.0.0.1",
            f"--secure-port={kcm_port}",
            f"--cert-dir={self.workdir / 'controller-manager'}",
            f"--root-ca-file={files.ca}",
            f"--service-account-private-key-file={files.sa_key}",
            "--use-service-account-credentials=true",
            "--controllers=*",
            "--enable-hostpath-provisioner",
            "--leader-elect=false",
            "--cluster-name=leapfrog-test",
        )
        self._spawn(
            "kube-scheduler",
            f"--kubeconfig={config('system:kube-scheduler', 'scheduler')}",
            "--bind-address=127.0.0.1",
            f"--secure-port={scheduler_port}",
            f"--cert-dir={self.workdir / 'scheduler'}",
            "--leader-elect=false",
        )
        self._spawn(
            "kwok",
            f"--kubeconfig={config('kwok', 'kwok')}",
            f"--config={self.tools / 'kwok-stages.yaml'}",
            "--manage-all-nodes=false",
            f"--manage-nodes-with-annotation-selector={KWOK_ANNOTATION}=fake",
            "--cidr=10.244.0.0/16",
            "--node-ip=127.0.0.1",
            # Node leases, renewed as a kubelet would, keep the node lifecycle controller from
            # marking the fake nodes unreachable.
            "--node-lease-duration-seconds=40",
        )
        self._health["kube-controller-manager"] = f"https://127.0.0.1:{kcm_port}/healthz"
        self._health["kube-scheduler"] = f"https://127.0.0.1:{scheduler_port}/healthz"

    def _wait_health(self, name: str) -> None:
        deadline = time.monotonic() + self.start_timeout
        process = next(p for p in self._processes if p.name == name)
        while time.monotonic() < deadline:
            process.check_alive()
            if self._healthy(name):
                return
            time.sleep(0.2)
        raise LeapfrogError(
            f"{name} was not ready in {self.start_timeout:.0f} s:\n{process.tail()}"
        )


def _condition(obj: dict[str, Any], kind: str) -> bool:
    conditions = obj.get("status", {}).get("conditions") or []
    return any(c.get("type") == kind and c.get("status") == "True" for c in conditions)


def _is_fake(node: dict[str, Any]) -> bool:
    return bool(node["metadata"].get("annotations", {}).get(KWOK_ANNOTATION) == "fake")
