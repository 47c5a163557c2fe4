"""kill -9 of random processes of a running stack, and the checks after each round: the
stack is healthy again, no process has lost its unit, every acknowledged event is kept.

Used by the examples' e2e test on the stack it already runs (Kafka, PostgreSQL, the
load balancer and the SDK services start once per session)."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from leapfrog.shared.procs import process_start_time
from leapfrog.testing import StackDir

__all__ = ["EventFlow", "kill_one", "orphans", "stack_processes", "victims"]


def stack_processes(root: Path) -> dict[int, str]:
    """Every live process whose command line or environment names the stack's directory:
    what the stack's units run and whatever those started."""
    found = {}
    needle = os.fsencode(root)
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry.name}/cmdline").read_bytes()
            environ = Path(f"/proc/{entry.name}/environ").read_bytes()
        except OSError:
            continue
        if (needle in cmdline or needle in environ) and process_start_time(int(entry.name)):
            found[int(entry.name)] = cmdline.replace(b"\0", b" ").decode(errors="replace")
    return found


def _parent(pid: int) -> int | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(raw[raw.rindex(")") + 2 :].split()[1])


def orphans(stack: StackDir) -> dict[int, str]:
    """Processes of the stack none of whose ancestors is an instance the supervisor runs
    (or the supervisor itself, whose probes are its children)."""
    state = stack.state_file()
    owners = {i["pid"] for i in state["instances"] if i["pid"]} | {state["supervisor"]["pid"]}
    lost = {}
    for pid, cmd in stack_processes(stack.root).items():
        walk: int | None = pid
        while walk not in (None, 0, 1) and walk not in owners:
            walk = _parent(walk)
        if walk not in owners and process_start_time(pid) is not None:
            lost[pid] = cmd
    return lost


def victims(stack: StackDir, rng: random.Random) -> list[str]:
    """One round each for: every component, the catalog, the lb's own process, a process
    the lb started (HAProxy), a service instance; in a random order."""
    names = [i["name"] for i in stack.state_file()["instances"]]
    units = [n for n in names if not any(n.startswith(s) for s in ("hello-", "reader-"))]
    services = [n for n in names if n not in units]
    chosen = [*units, "lb-1/child", rng.choice(services)]
    rng.shuffle(chosen)
    return chosen


def kill_one(stack: StackDir, victim: str, rng: random.Random) -> tuple[str, int]:
    """kill -9 of an instance's leader (`NAME`) or of a process it started (`NAME/child`);
    returns the instance and the pid killed."""
    name, _, which = victim.partition("/")
    (item,) = [i for i in stack.state_file()["instances"] if i["name"] == name]
    leader = int(item["pid"])
    pid = leader
    if which == "child":
        procs = Path(item["cgroup"], "cgroup.procs") if item.get("cgroup") else None
        members = [int(p) for p in procs.read_text().split()] if procs else []
        members = [p for p in members if p != leader] or [
            p for p in stack_processes(stack.root) if _parent(p) == leader
        ]
        assert members, f"{name} runs no process besides its own"
        pid = rng.choice(members)
    os.kill(pid, signal.SIGKILL)
    return name, pid


class EventFlow:
    """POST /events through the load balancer from one thread, bounded in count and pace,
    until stopped; keeps the ids the service acknowledged (202: Kafka has them)."""

    def __init__(self, base: str, limit: int = 20_000, pause: float = 0.02) -> None:
        self.base, self.limit, self.pause = base, limit, pause
        self.run = uuid.uuid4().hex[:8]
        self.accepted: list[str] = []
        self.refused = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        with httpx.Client(base_url=self.base, timeout=10) as http:
            for n in range(self.limit):
                if self._stop.is_set():
                    return
                ident = f"chaos-{self.run}-{n}"
                try:
                    answer = http.post("/events", json={"id": ident, "type": "chaos"})
                except httpx.HTTPError:
                    answer = None
                if answer is not None and answer.status_code == 202:
                    self.accepted.append(ident)
                else:
                    self.refused += 1
                    time.sleep(0.2)  # the lb or Kafka is coming back: no busy loop
                time.sleep(self.pause)

    def accepted_since(self, count: int) -> bool:
        return len(self.accepted) > count

    def __enter__(self) -> EventFlow:
        self._thread.start()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self._stop.set()
        self._thread.join(30)
