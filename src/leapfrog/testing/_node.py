"""A real Kubernetes node for tests, beside a ControlPlane: containerd 1.6 + runc + CNI
bridge from Debian's packages, and a kubelet and kube-proxy built from Go modules
(scripts/kube-tools.sh), run in a private mount namespace (leapfrog.testing._node_ns), with
the pods' bridge and kube-proxy's rules in a network namespace of their own
(leapfrog.testing._node_net), so pods run real containers and reach Services, by name too
(CoreDNS as cluster DNS, leapfrog.testing._node_dns), while the host's configuration stays
as it was. Images come from docker archives built here
(leapfrog.testing._node_images), never from a registry.

The node is tainted `leapfrog.dev/real-node=true:NoSchedule`: only pods that tolerate it
(see `RealNode.pod_spec`) run there, the rest keep going to KWOK's fake nodes."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from leapfrog.components._apt import apt_install
from leapfrog.shared.errors import LeapfrogError
from leapfrog.testing._kube import ControlPlane
from leapfrog.testing._kube_procs import Process
from leapfrog.testing._node_dns import DNS_READY_PORT, coredns_binary, dns_objects
from leapfrog.testing._node_files import (
    BRIDGE,
    CNI_PLUGINS,
    HEALTHZ_PORT,
    HOST_PATHS,
    KUBELET_PORT,
    POD_GATEWAY,
    PROXIED_API_PORT,
    REAL_NODE_LABEL,
    REAL_NODE_TAINT,
    RUNC,
    NodeLayout,
)
from leapfrog.testing._node_images import BUSYBOX_IMAGE, PAUSE_IMAGE, NodeImages, node_images
from leapfrog.testing._node_netns import call_in_netns

__all__ = [
    "NODE_PACKAGES",
    "RealNode",
    "install_node_packages",
    "node_name",
    "real_node_unavailable",
]

T = TypeVar("T")

# Debian package -> a file that proves it is installed.
NODE_PACKAGES = {
    "containerd": Path("/usr/bin/containerd"),
    "runc": RUNC,
    "containernetworking-plugins": CNI_PLUGINS / "bridge",
    "iptables": Path("/usr/sbin/iptables-restore"),  # kube-proxy's rules
}
_CGROUPS = Path("/sys/fs/cgroup")
# The cgroups the kubelet (kubepods) and containerd (k8s.io) make at the top of each hierarchy.
_NODE_CGROUPS = ("kubepods", "k8s.io")


def node_name() -> str:
    """The machine's host name: the apiserver reaches the kubelet by it (it must resolve to
    127.0.0.1, where the kubelet listens; the kubelet refuses a loopback node IP)."""
    return socket.gethostname().lower()


def _missing_packages() -> list[str]:
    return [package for package, proof in NODE_PACKAGES.items() if not proof.exists()]


def install_node_packages(progress: Callable[[str], None] = lambda _line: None) -> None:
    """apt-get install whichever of containerd, runc and the CNI plugins is missing (root)."""
    missing = _missing_packages()
    if missing and os.geteuid() == 0 and shutil.which("apt-get"):
        apt_install(missing, progress, "the real test node")


def real_node_unavailable() -> str:
    """Why this machine cannot run a real node, or "" when it can."""
    if sys.platform != "linux":
        return "a real node needs Linux"
    if os.geteuid() != 0:
        return "a real node needs root (mount namespaces, cgroups, a network bridge)"
    missing = _missing_packages()
    if missing:
        return f"a real node needs the Debian packages {', '.join(missing)} (apt-get install)"
    for tool in ("unshare", "nsenter", "mount", "ip", "ctr"):
        if shutil.which(tool) is None:
            return f"a real node needs the {tool} command"
    try:
        address = socket.gethostbyname(node_name())
    except OSError:
        address = ""
    if not address.startswith("127."):
        return f"the host name {node_name()} must resolve to 127.0.0.1 (add it to /etc/hosts)"
    return ""


class RealNode:
    """containerd + kubelet joined to `plane` as node `node_name()`, everything under `workdir`.

    start() writes the configs, starts the namespace holder, imports the test images and
    waits until the node is Ready; stop() ends every process it started and removes what
    it left on the host (the CNI bridge, the kubepods/k8s.io cgroups, empty mountpoint
    directories, the Node object). `leftovers()` lists anything still there."""

    busybox_image = BUSYBOX_IMAGE
    pause_image = PAUSE_IMAGE
    pod_gateway = POD_GATEWAY
    """The bridge's address in the pods' network namespace: where a server the test runs
    there (`call_in_pod_network`) listens for pods."""

    def __init__(self, plane: ControlPlane, workdir: Path, *, ready_timeout: float = 120.0) -> None:
        self.plane = plane
        self.name = node_name()
        self.layout = NodeLayout(workdir)
        self.ready_timeout = ready_timeout
        self.kubelet = plane.bin / "kubelet"
        self.kube_proxy = plane.bin / "kube-proxy"
        self.coredns = coredns_binary()
        self.images: NodeImages | None = None
        self.started_in = 0.0
        self.ready_in = 0.0
        self.dns_ready_in = 0.0
        self._holder: Process | None = None
        self._made_dirs: list[Path] = []
        self._interfaces: set[str] = set()
        self._cgroups: set[Path] = set()
        self._mounts: set[str] = set()
        self._started = False

    def __enter__(self) -> RealNode:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- start -------------------------------------------------------------------------

    def start(self) -> None:
        why = real_node_unavailable()
        if why:
            raise LeapfrogError(why, hint="run the real-node tests as root on a Debian machine")
        for program, script in (
            (self.kubelet, "kube-tools.sh"),
            (self.kube_proxy, "kube-tools.sh"),
            (self.coredns, "coredns.sh"),
        ):
            if not program.is_file():
                raise LeapfrogError(
                    f"no {program.name} in {program.parent}",
                    hint=f"run scripts/{script} to build it",
                )
        self._refuse_if_busy()
        began = time.monotonic()
        self.images = node_images()
        self._interfaces = _interfaces()
        self._cgroups = _top_cgroups()
        self._mounts = _mounts()
        self._made_dirs = [path for path in HOST_PATHS if not path.exists()]
        for path in self._made_dirs:
            path.mkdir(parents=True)
        self._started = True
        try:
            self.layout.write(
                name=self.name,
                kubelet=self.kubelet,
                kube_proxy=self.kube_proxy,
                coredns=self.coredns,
                api_port=int(self.plane.server.rsplit(":", 1)[1]),
                pause_image=PAUSE_IMAGE,
            )
            proxied_api = f"https://127.0.0.1:{PROXIED_API_PORT}"
            self.plane.write_kubelet_kubeconfig(
                self.name, self.layout.kubelet_kubeconfig, proxied_api
            )
            self.plane.write_kube_proxy_kubeconfig(self.layout.kube_proxy_kubeconfig, proxied_api)
            self.plane.write_coredns_kubeconfig(self.layout.coredns_kubeconfig, proxied_api)
            self.plane.kubectl("apply", "-f", "-", input=dns_objects(POD_GATEWAY))
            unshare = ["unshare", "--mount", "--propagation", "private", "--"]
            holder = [sys.executable, "-m", "leapfrog.testing._node_ns", str(self.layout.plan)]
            self._holder = Process("node", [*unshare, *holder], self.layout.log("node"))
            self._holder.start()
            self._wait_containerd()
            for archive in self.images.archives:
                self.ctr("images", "import", str(archive))
            self.started_in = time.monotonic() - began
            self._wait_ready()
            self.ready_in = time.monotonic() - began
            self._wait_dns()
            self.dns_ready_in = time.monotonic() - began
        except BaseException:
            self.stop()
            raise

    def _refuse_if_busy(self) -> None:
        """One real node per machine: its port, bridge and cgroups are fixed."""
        busy = []
        for port in (KUBELET_PORT, HEALTHZ_PORT):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    busy.append(f"port {port} is in use")
        if (Path("/sys/class/net") / BRIDGE).exists():
            busy.append(f"the network bridge {BRIDGE} exists")
        busy += [f"the cgroup {path} exists" for path in _node_cgroup_dirs()]
        if busy:
            raise LeapfrogError(
                "another real node seems to run here: " + "; ".join(busy),
                hint="stop it first (or remove what a killed test run left behind)",
            )

    def in_pod_network(self, *argv: str) -> subprocess.CompletedProcess[str]:
        """Run a command in the pods' network namespace (where the bridge and kube-proxy's
        rules are), e.g. `iptables-save`."""
        holder = self.pids().get("network")
        if holder is None:
            raise LeapfrogError("the real node is not running")
        command = ["nsenter", f"--net=/proc/{holder}/ns/net", "--", *argv]
        return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)

    def call_in_pod_network(self, fn: Callable[[], T], timeout: float = 300.0) -> T:
        """`fn()` run in a thread of this process that joined the pods' network namespace:
        a server it starts (subprocess.Popen) listens where pods reach it (the bridge's
        address, `POD_GATEWAY`), and clients it opens reach the pods."""
        holder = self.pids().get("network")
        if holder is None:
            raise LeapfrogError("the real node is not running")
        return call_in_netns(Path(f"/proc/{holder}/ns/net"), fn, timeout)

    def ensure_gateway(self, namespace: str) -> None:
        """The pods' gateway address exists: the CNI plugin makes the bridge with the first
        pod, so a server can listen on it only once a pod ran; runs one if none has."""
        if f"inet {POD_GATEWAY}/" in self.in_pod_network("ip", "-4", "addr").stdout:
            return
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "gateway-up", "namespace": namespace},
            "spec": self.pod_spec([{"name": "main", "command": ["true"]}], restartPolicy="Never"),
        }
        self.plane.kubectl("apply", "-f", "-", input=json.dumps(pod))
        self.plane.kubectl(
            "wait", "-n", namespace, "pod/gateway-up", "--timeout=60s",
            "--for=jsonpath={.status.phase}=Succeeded",
        )  # fmt: skip
        self.plane.kubectl("delete", "-n", namespace, "pod/gateway-up", "--wait=false")

    def import_image(self, archive: Path) -> float:
        """Load a docker archive (e.g. `leapfrog image build`'s) into the node's containerd,
        as the test images are: pods find it by its tag, never pulled. Seconds it took."""
        began = time.monotonic()
        done = subprocess.run(
            ["ctr", "--address", str(self.layout.socket), "-n", "k8s.io", "images", "import",
             str(archive)],
            capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise LeapfrogError(f"importing {archive} failed: {done.stderr.strip()}")
        return time.monotonic() - began

    @staticmethod
    def namespace_annotations() -> dict[str, str]:
        """Annotations that send every pod of a namespace to the real node, whoever makes
        its spec (an operator's Job): the apiserver's PodNodeSelector and
        PodTolerationRestriction admission plugins add the node's selector and
        toleration to each pod created there."""
        toleration = {"key": REAL_NODE_TAINT, "operator": "Exists", "effect": "NoSchedule"}
        return {
            "scheduler.alpha.kubernetes.io/node-selector": f"{REAL_NODE_LABEL}=true",
            "scheduler.alpha.kubernetes.io/defaultTolerations": json.dumps([toleration]),
        }

    def local_volume(
        self, name: str, path: Path, storage_class: str, size: str = "1Gi"
    ) -> dict[str, Any]:
        """A PersistentVolume of `path` on this node (a `local` volume: its pods mount the
        folder itself, and the scheduler places them here)."""
        hostname = {"key": "kubernetes.io/hostname", "operator": "In", "values": [self.name]}
        return {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": name},
            "spec": {
                "capacity": {"storage": size},
                "accessModes": ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Retain",
                "storageClassName": storage_class,
                "local": {"path": str(path)},
                "nodeAffinity": {
                    "required": {"nodeSelectorTerms": [{"matchExpressions": [hostname]}]}
                },
            },
        }

    @classmethod
    def gateway_service(cls, name: str, ports: dict[str, int]) -> list[dict[str, Any]]:
        """A Service `name` (ports by name) with no selector and its EndpointSlice naming
        the pods' gateway: pods reach a server the test runs in their network namespace
        by the Service's name, through kube-proxy, as they would a pod's."""
        service = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name},
            "spec": {"ports": [{"name": n, "port": p} for n, p in ports.items()]},
        }
        endpoints = {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {"name": f"{name}-gateway", "labels": {"kubernetes.io/service-name": name}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [cls.pod_gateway], "conditions": {"ready": True}}],
            "ports": [{"name": n, "port": p, "protocol": "TCP"} for n, p in ports.items()],
        }
        return [service, endpoints]

    def ctr(self, *args: str) -> str:
        """containerd's own client on this node's socket, in the k8s.io namespace (CRI's)."""
        command = ["ctr", "--address", str(self.layout.socket), "-n", "k8s.io", *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise LeapfrogError(f"{' '.join(command)} failed: {done.stderr.strip()}")
        return done.stdout

    def _check_holder(self) -> None:
        if self._holder is None:
            return
        try:
            self._holder.check_alive()
        except LeapfrogError as exc:
            logs = f"{self.tail('kubelet')}\n{self.tail('containerd')}"
            raise LeapfrogError(f"{exc}\n{logs}") from None

    def tail(self, name: str, lines: int = 15) -> str:
        log = self.layout.log(name)
        text = log.read_text(errors="replace") if log.exists() else ""
        return f"== {name}\n" + "\n".join(text.splitlines()[-lines:]) + f"\n(whole log: {log})"

    def _wait_containerd(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            self._check_holder()
            if self.layout.socket.exists():
                done = subprocess.run(
                    ["ctr", "--address", str(self.layout.socket), "version"],
                    capture_output=True,
                    check=False,
                )
                if done.returncode == 0:
                    return
            time.sleep(0.1)
        raise LeapfrogError(f"containerd did not answer in 30 s\n{self.tail('containerd')}")

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            self._check_holder()
            if self.ready():
                return
            time.sleep(0.2)
        raise LeapfrogError(
            f"node {self.name} was not Ready in {self.ready_timeout:.0f} s\n{self.tail('kubelet')}"
        )

    def _wait_dns(self) -> None:
        """Until CoreDNS's `ready` plugin says the kubernetes plugin has synced."""
        probe = (
            "import urllib.request; "
            f"urllib.request.urlopen('http://127.0.0.1:{DNS_READY_PORT}/ready', timeout=2)"
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            self._check_holder()
            if self.in_pod_network(sys.executable, "-c", probe).returncode == 0:
                return
            time.sleep(0.2)
        raise LeapfrogError(f"CoreDNS was not ready in 60 s\n{self.tail('coredns')}")

    def ready(self) -> bool:
        try:
            node = self.plane.api(f"/api/v1/nodes/{self.name}")
        except (OSError, urllib.error.URLError, ValueError):
            return False
        conditions = node.get("status", {}).get("conditions") or []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    # -- for tests ------------------------------------------------------------------------

    @staticmethod
    def pod_spec(containers: Sequence[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        """A pod spec for the real node: its selector and toleration, Pod Security
        "restricted" (non-root, no privilege escalation, no capabilities, RuntimeDefault
        seccomp), the busybox image unless a container names another, never pulled."""
        restricted = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
        return {
            "nodeSelector": {REAL_NODE_LABEL: "true"},
            "tolerations": [{"key": REAL_NODE_TAINT, "operator": "Exists", "effect": "NoSchedule"}],
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 65534,
                "runAsGroup": 65534,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "terminationGracePeriodSeconds": 1,
            **extra,
            "containers": [
                {
                    "image": BUSYBOX_IMAGE,
                    "imagePullPolicy": "Never",
                    "securityContext": restricted,
                    **container,
                }
                for container in containers
            ],
        }

    def pids(self) -> dict[str, int]:
        """Process ids of the holder and the programs it started: network (the pods'
        namespace), containerd, kubelet, kube-proxy, coredns (empty before start)."""
        try:
            return {k: int(v) for k, v in json.loads(self.layout.pids.read_text()).items()}
        except (OSError, ValueError):
            return {}

    def memory(self) -> dict[str, int]:
        """Resident memory in bytes of each program of the node, and of all shims together."""
        pids = self.pids()
        found = {name: _rss(pid) for name, pid in pids.items() if name != "holder"}
        found["shims"] = sum(_rss(pid) for pid in self._processes() if _is_shim(pid))
        return found

    # -- stop ------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop every process of the node, then remove what it left on the host."""
        if not self._started:
            return
        if self._holder is not None:
            self._holder.stop(timeout=60)
            self._holder = None
        for pid in self._processes():  # only if the holder itself was killed
            _kill(pid)
        for _ in range(50):
            if not self._processes():
                break
            time.sleep(0.1)
        if (Path("/sys/class/net") / BRIDGE).exists() and BRIDGE not in self._interfaces:
            subprocess.run(["ip", "link", "delete", BRIDGE], capture_output=True, check=False)
        for top in _node_cgroup_dirs():
            if top not in self._cgroups:
                _remove_cgroup_tree(top)
        for path in self._made_dirs:
            with contextlib.suppress(OSError):
                path.rmdir()
        self.plane.kubectl("delete", "node", self.name, "--ignore-not-found", check=False)
        self.plane.kubectl(
            "delete", "-f", "-", "--ignore-not-found", input=dns_objects(POD_GATEWAY), check=False
        )
        self._started = False

    def _processes(self) -> list[int]:
        """Processes of this node: those naming its directory (containerd, kubelet, shims,
        the holder) and those in its pods' cgroups."""
        marker = str(self.layout.root).encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                if marker in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
                    continue
                cgroups = (entry / "cgroup").read_text()
            except OSError:
                continue
            if any(f":/{top}/" in cgroups or f":/{top}\n" in cgroups for top in _NODE_CGROUPS):
                found.append(int(entry.name))
        return found

    def leftovers(self) -> list[str]:
        """What this node left on the host: its processes, mounts under its directory or
        over the paths it redirects, the bridge and pod interfaces, the kubepods/k8s.io
        cgroups, the mountpoint directories it made. (Others' changes are not counted.)"""
        left = [f"process {pid}: {_cmdline(pid)}" for pid in self._processes()]
        watched = [self.layout.root, *HOST_PATHS, Path("/proc/sys")]
        left += [
            f"mount {point}"
            for point in sorted(_mounts() - self._mounts)
            if any(Path(point).is_relative_to(path) for path in watched)
        ]
        left += [
            f"network interface {name}"
            for name in sorted(_interfaces() - self._interfaces)
            if name == BRIDGE or name.startswith("veth")
        ]
        left += [f"cgroup {path}" for path in _node_cgroup_dirs() if path not in self._cgroups]
        left += [f"directory {path}" for path in self._made_dirs if path.exists()]
        return left


def _mounts() -> set[str]:
    """The host's mount points (this process's mount namespace)."""
    lines = Path("/proc/self/mountinfo").read_text().splitlines()
    return {line.split()[4] for line in lines}


def _interfaces() -> set[str]:
    return {entry.name for entry in Path("/sys/class/net").iterdir()}


def _top_cgroups() -> set[Path]:
    """The cgroups at the top of every hierarchy (v1) or of the unified one (v2)."""
    found: set[Path] = set()
    hierarchies = [p for p in _CGROUPS.iterdir() if p.is_dir() and not p.is_symlink()]
    for hierarchy in hierarchies if not (_CGROUPS / "cgroup.procs").exists() else [_CGROUPS]:
        found.update(p for p in hierarchy.iterdir() if p.is_dir())
    return found


def _node_cgroup_dirs() -> list[Path]:
    return sorted(p for p in _top_cgroups() if p.name in _NODE_CGROUPS)


def _remove_cgroup_tree(top: Path) -> None:
    """rmdir depth first: a cgroup goes only when it is empty, never with a process in it."""
    for directory, subdirs, _files in os.walk(top, topdown=False):
        for sub in subdirs:
            with contextlib.suppress(OSError):
                (Path(directory) / sub).rmdir()
    with contextlib.suppress(OSError):
        top.rmdir()


def _cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return "?"


def _is_shim(pid: int) -> bool:
    return "containerd-shim" in _cmdline(pid)


def _rss(pid: int) -> int:
    try:
        for line in (Path("/proc") / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
