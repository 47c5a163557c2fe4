"""Benchmark: requests per second through the load balancer during a rolling update of
four instances, against the same load with no rollout.

* The stack: the catalog, the load balancer (HAProxy) and four instances of an SDK
  service (bench/apps/scale_who.py). Four clients on keep-alive connections to the entry
  point request as fast as they can the whole time (a closed loop: the rate is what the
  machine serves), and every failed request is counted with its phase.
* rollout: `leapfrog up` after the service's `version` changed, from its spawn until it
  returns (the rollout complete: a surge instance, the four replaced one at a time, the
  surge gone); the requests answered meanwhile over its time.
* baseline: right after, the same clients for as long as that rollout took, no change.

Rounds alternate (rollout, then baseline) so drift hits both; medians and the ratio
rollout / baseline are printed (target >= 0.9, and 0 failed requests).

Addresses: the stack's instances in 127.121.0.0/24, the catalog and the load balancer on
free ports of 127.0.0.1; no test uses these. Everything is stopped at the end
(`leapfrog down`), also on Ctrl-C. Run under the integration-test lock:

    flock /tmp/lf-itest.lock .venv/bin/python bench/rollout.py [--rounds 3] [--json]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import scale
from _shared import emit, loadavg, no_interrupt, progress, run_bench
from leapfrog.testing import free_port, sdk_service_user
from scale import wait_routed

HERE = Path(__file__).resolve().parent
APP = HERE / "apps" / "scale_who.py"
CLI = Path(sys.executable).parent / "leapfrog"
NETWORK = "127.121.0.0/24"
PORT = 8000
REPLICAS = 4
CLIENTS = 4
TARGET = 0.9
WAIT = 300.0
"""Longest wait for one `up` (a bound, not a target)."""


def stack_text(catalog: tuple[int, int], listen: str, stats: str, version: int) -> str:
    user = sdk_service_user()
    return (
        f"catalog:\n  http: 127.0.0.1:{catalog[0]}\n  dns: 127.0.0.1:{catalog[1]}\n"
        f"local:\n  addresses: {NETWORK}\n"
        f"components:\n  lb:\n    listen: {listen}\n    stats: {stats}\n"
        "services:\n"
        "  web:\n"
        "    command: ${LEAPFROG_PYTHON} scale_who.py\n"
        f"    replicas: {REPLICAS}\n"
        f"    port: {PORT}\n"
        f"    version: '{version}'\n"
        "    route: {path: /web, strip_prefix: true}\n"
        "    check: {http: /health/ready}\n" + (f"    user: {user}\n" if user else "")
    )


class Load:
    """Closed-loop keep-alive clients on the entry point; answers and failures by phase."""

    def __init__(self, listen: str) -> None:
        host, port = listen.rsplit(":", 1)
        self.host, self.port = host, int(port)
        self.phase = "start"
        self.answered = 0
        self.failures: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._client) for _ in range(CLIENTS)]

    def _client(self) -> None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        while not self._stop.is_set():
            try:
                conn.request("GET", "/web/")
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException) as exc:
                with self._lock:
                    self.failures[f"{self.phase}: {type(exc).__name__}"] += 1
                conn.close()
                conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
                continue
            with self._lock:
                if response.status == 200:
                    self.answered += 1
                else:
                    self.failures[f"{self.phase}: {response.status}"] += 1
        conn.close()

    def count(self) -> int:
        with self._lock:
            return self.answered

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)


_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # fields from the 3rd (state) on


def stack_cpu(root: Path) -> dict[str, float]:
    """CPU seconds used so far: by the supervisor itself, by each unit's live processes
    (their whole process trees: HAProxy under `lb`) with, for `web`, the instances the
    supervisor has reaped (the replaced ones: their whole lives, so that only the
    difference of two readings means anything), and by this process (the clients,
    `load`)."""
    found: dict[str, float] = {"load": time.process_time()}
    state = json.loads((root / ".leapfrog" / "run" / "state.json").read_text())
    sup = int(state["supervisor"]["pid"])
    units = {int(i["pid"]): str(i["unit"]) for i in state.get("instances", []) if i.get("pid")}
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            stats[int(entry.name)] = fields
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    if sup not in stats:
        return found
    own = stats[sup]
    found["supervisor"] = (int(own[11]) + int(own[12])) / _TICK
    found["web"] = (int(own[13]) + int(own[14])) / _TICK  # reaped: replaced instances

    def tree(pid: int) -> float:
        fields = stats[pid]
        ticks = sum(int(f) for f in fields[11:15])
        return ticks / _TICK + sum(tree(c) for c in children.get(pid, []))

    for child in children.get(sup, []):
        role = units.get(child, "other")
        found[role] = found.get(role, 0.0) + tree(child)
    return found


def cpu_rate(before: dict[str, float], after: dict[str, float], seconds: float) -> dict[str, float]:
    """CPU seconds per second of each part between two `stack_cpu` readings."""
    parts = {k: (after.get(k, 0.0) - before.get(k, 0.0)) / seconds for k in {*before, *after}}
    parts["total"] = sum(parts.values())
    return {k: round(v, 2) for k, v in sorted(parts.items())}


def cli(root: Path, *args: str, timeout: float = WAIT) -> str:
    """`leapfrog ARGS` in `root` (scale.py's), with this benchmark's longer wait."""
    return scale.cli(root, *args, timeout=timeout)


def measure(rounds: int) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="lf-bench-rollout-", dir="/tmp"))
    root.chmod(0o755)
    shutil.copy(APP, root / APP.name)
    (root / APP.name).chmod(0o644)
    listen, stats = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    catalog = (free_port(), free_port())
    stack = root / "leapfrog.yaml"
    stack.write_text(stack_text(catalog, listen, stats, 1))
    load = Load(listen)
    during: list[float] = []
    baseline: list[float] = []
    seconds: list[float] = []
    cpu_during: list[dict[str, float]] = []
    cpu_baseline: list[dict[str, float]] = []
    try:
        progress(f"starting the stack (catalog, lb, {REPLICAS} instances of web)")
        cli(root, "up", "-d", timeout=WAIT)
        wait_routed(listen, time.monotonic() + 60)
        load.start()
        time.sleep(2.0)  # warm: every connection open, every server picked once
        for n in range(1, rounds + 1):
            stack.write_text(stack_text(catalog, listen, stats, n + 1))
            load.phase = f"rollout {n}"
            cpu, kids = stack_cpu(root), _children_cpu()
            before, started = load.count(), time.perf_counter()
            cli(root, "up", "-d")
            took = time.perf_counter() - started
            during.append((load.count() - before) / took)
            seconds.append(took)
            cpu_during.append(
                cpu_rate(cpu, stack_cpu(root), took)
                | {"up_cli": round((_children_cpu() - kids) / took, 2)}
            )
            load.phase = f"baseline {n}"
            cpu = stack_cpu(root)
            before, started = load.count(), time.perf_counter()
            time.sleep(took)
            elapsed = time.perf_counter() - started
            baseline.append((load.count() - before) / elapsed)
            cpu_baseline.append(cpu_rate(cpu, stack_cpu(root), elapsed))
            progress(
                f"round {n}: rollout {took:.1f}s at {during[-1]:.0f}/s, "
                f"baseline {baseline[-1]:.0f}/s; CPU s/s during {cpu_during[-1]}, "
                f"baseline {cpu_baseline[-1]}"
            )
    finally:
        with no_interrupt():
            load.stop()
            subprocess.run(
                [str(CLI), "down"], cwd=root, capture_output=True, timeout=120, check=False
            )
            shutil.rmtree(root, ignore_errors=True)
    ratio = statistics.median(during) / statistics.median(baseline)
    failed = sum(load.failures.values())
    return {
        "instances": REPLICAS,
        "rollout_requests_per_s": {
            "median": round(statistics.median(during)),
            "rounds": [round(r) for r in during],
        },
        "baseline_requests_per_s": {
            "median": round(statistics.median(baseline)),
            "rounds": [round(r) for r in baseline],
        },
        "rollout_seconds": [round(s, 1) for s in seconds],
        "cpu_s_per_s_during_rollout": _median_parts(cpu_during),
        "cpu_s_per_s_baseline": _median_parts(cpu_baseline),
        "ratio": round(ratio, 2),
        "target": f">= {TARGET} and 0 failed",
        "target_met": ratio >= TARGET and failed == 0,
        "requests_through_lb": load.count(),
        "failed_requests": failed,
        "failures": dict(load.failures) or "none",
        "loadavg": loadavg(),
    }


def _children_cpu() -> float:
    """CPU seconds of this process's waited-for children (the `leapfrog up` commands)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _median_parts(rounds: list[dict[str, float]]) -> dict[str, float]:
    keys = sorted({k for r in rounds for k in r})
    return {k: round(statistics.median(r.get(k, 0.0) for r in rounds), 2) for k in keys}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds of each side")
    parser.add_argument("--json", action="store_true", help="JSON on stdout instead of lines")
    args = parser.parse_args()
    emit(measure(max(1, args.rounds)), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(run_bench(main))
