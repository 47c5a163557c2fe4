"""The namespace holder of a real test node: `unshare --mount --propagation private python -m
leapfrog.testing._node_ns PLAN` runs this in a private mount namespace, where it

- shows the kubelet the kernel settings it insists on, by bind-mounting read-only files over
  those /proc/sys entries whose host value differs (the host's values are never written);
- bind-mounts the node's own directories over the paths containerd 1.6, the kubelet and
  libcni use whatever they are told (/run/containerd, /var/lib/kubelet, ...);
- starts the pods' network namespace (leapfrog.testing._node_net) and bind-mounts it at a
  path of the node's directory, for the CNI bridge plugin and kube-proxy to enter;
- starts containerd, then the kubelet, kube-proxy and CoreDNS, and stays their parent and the
  subreaper of the container shims, so every process of the node descends from it;
- on SIGTERM stops the kubelet, kills the containers and shims, stops containerd and exits
  once no descendant is left. The mounts then go with the namespace.

The plan is the JSON file leapfrog.testing._node_files.NodeLayout.write makes."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent() -> None:
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _say(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} node: {message}", flush=True)


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True, text=True)


def _mask_kernel_settings(plan: dict[str, Any]) -> None:
    directory = Path(plan["sysctl_dir"])
    for key, wanted in plan["kernel"].items():
        target = Path("/proc/sys") / key
        if target.read_text().strip() == wanted:
            continue
        shown = directory / key.replace("/", "_")
        shown.write_text(wanted + "\n")
        _mount("--bind", str(shown), str(target))
        _mount("-o", "remount,bind,ro", str(target))
        _say(f"{target} shows {wanted} in this namespace (the host keeps its own value)")


def _bind_host_paths(plan: dict[str, Any]) -> None:
    for source, target in plan["binds"]:
        Path(source).mkdir(parents=True, exist_ok=True)
        _mount("--bind", source, target)


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: the fields follow the last ")".
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(parent, []).append(int(entry.name))
    return tree


def descendants(root: int) -> list[int]:
    """Every living process below `root`, parents before children."""
    tree, found, queue = _children(), [], [root]
    while queue:
        for child in tree.get(queue.pop(0), []):
            found.append(child)
            queue.append(child)
    return found


def _signal(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


class Holder:
    def __init__(self, plan: dict[str, Any]) -> None:
        self.plan = plan
        self.programs: dict[str, int] = {}
        self.exited: dict[int, int] = {}
        self.stopping = False

    def start(self, name: str) -> None:
        spec = self.plan[name]
        with open(spec["log"], "ab") as log:
            process = subprocess.Popen(
                spec["argv"],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - prctl only
            )
        self.programs[name] = process.pid
        _say(f"{name} started (pid {process.pid})")

    def reap(self) -> None:
        """Collect every exited child: shims and containers become ours when orphaned."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.exited[pid] = os.waitstatus_to_exitcode(status)

    def dead(self) -> str:
        for name, pid in self.programs.items():
            if pid in self.exited:
                return f"{name} exited with {self.exited[pid]}"
        return ""

    def wait_gone(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.reap()
            if pid in self.exited:
                return True
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        """kubelet, then every container and shim, then containerd; then whatever is left."""
        kubelet, containerd = self.programs.get("kubelet"), self.programs.get("containerd")
        if kubelet is not None:
            _signal([kubelet], signal.SIGTERM)
            if not self.wait_gone(kubelet, 10):
                _signal([kubelet], signal.SIGKILL)
        _signal([p for p in descendants(os.getpid()) if p != containerd], signal.SIGKILL)
        if containerd is not None:
            _signal([containerd], signal.SIGTERM)
            if not self.wait_gone(containerd, 10):
                _signal([containerd], signal.SIGKILL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            self.reap()
            left = descendants(os.getpid())
            if not left:
                _say("stopped; no process of the node is left")
                return
            _signal(left, signal.SIGKILL)
            time.sleep(0.1)
        _say(f"processes still here after the stop: {descendants(os.getpid())}")


def _start_network(holder: Holder, plan: dict[str, Any]) -> None:
    """The pods' network namespace, held by the apiserver forwarder living in it."""
    holder.start("network")
    ready = Path(plan["network"]["ready"])
    deadline = time.monotonic() + 20
    while not ready.exists():
        holder.reap()
        if holder.dead() or time.monotonic() > deadline:
            raise RuntimeError(holder.dead() or "the pods' network namespace was not made")
        time.sleep(0.05)
    netns = Path(plan["netns"])
    netns.touch()
    _mount("--bind", f"/proc/{holder.programs['network']}/ns/net", str(netns))


def main(argv: list[str]) -> int:
    plan = json.loads(Path(argv[1]).read_text())
    _libc.prctl(_PR_SET_CHILD_SUBREAPER, 1)
    holder = Holder(plan)

    def on_term(_signum: int, _frame: object) -> None:
        holder.stopping = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    try:
        _mask_kernel_settings(plan)
        _bind_host_paths(plan)
        _start_network(holder, plan)
        holder.start("containerd")
        socket = Path(plan["socket"])
        deadline = time.monotonic() + 30
        while not socket.exists() and time.monotonic() < deadline and not holder.stopping:
            holder.reap()
            if holder.dead():
                raise RuntimeError(holder.dead())
            time.sleep(0.1)
        if not socket.exists():
            raise RuntimeError(f"containerd made no socket {socket} in 30 s")
        for name in plan["programs"]:
            holder.start(name)
        Path(plan["pids"]).write_text(json.dumps({"holder": os.getpid(), **holder.programs}))
        while not holder.stopping:
            holder.reap()
            if holder.dead():
                raise RuntimeError(holder.dead())
            time.sleep(0.2)
    except (OSError, RuntimeError, subprocess.CalledProcessError) as exc:
        detail = exc.stderr if isinstance(exc, subprocess.CalledProcessError) else ""
        _say(f"failed: {exc} {detail}".strip())
        holder.stop()
        return 1
    holder.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
