"""Benchmark: `leapfrog scale web=+4` until all four new instances serve through the load
balancer, against the same four instances started by hand.

* leapfrog: a stack of the catalog, the load balancer (HAProxy) and one instance of an
  SDK service (bench/apps/scale_who.py, which answers with its instance name). The time
  runs from spawning `leapfrog scale web=+4` until each of web-2 … web-5 has answered a
  request sent to the load balancer's entry point (a keep-alive client polls it the
  whole time, a request every millisecond or so: round robin reaches every server
  within a few requests, and the machine is not saturated by the poll). Between rounds
  `leapfrog scale web=1` takes them out again (not timed).
* baseline: the same app started by hand, four processes at once with the same
  interpreter, on addresses of their own and without registering (nobody routes to
  them), each polled on its own address every 5 ms: the time from the first spawn until
  the slowest answers. That is the least anyone can do to start four instances and
  know they serve; leapfrog adds their addresses, registration, the catalog's answer,
  the load balancer's change.

Rounds alternate (baseline, then leapfrog) so drift on the machine hits both; medians
and the ratio leapfrog / baseline are printed (target <= 1.2), with where leapfrog's
time went (from the stack's logs: the supervisor has the request, the last new instance
spawned, serving, registered, the load balancer's last change live) and every request
through the load balancer that failed, by phase (scale-down included).

Addresses: the stack's instances in 127.119.0.0/24, the by-hand ones at 127.119.1.x,
the catalog and the load balancer on free ports of 127.0.0.1; no test uses these.
Everything is stopped at the end (`leapfrog down`, the by-hand processes), also on
Ctrl-C. Run under the integration-test lock:

    flock /tmp/lf-itest.lock .venv/bin/python bench/scale.py [--rounds 3] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from _shared import BenchError, emit, loadavg, no_interrupt, progress, run_bench, tail
from leapfrog.testing import free_port, sdk_service_user

HERE = Path(__file__).resolve().parent
APP = HERE / "apps" / "scale_who.py"
CLI = Path(sys.executable).parent / "leapfrog"
NETWORK = "127.119.0.0/24"
BY_HAND = "127.119.1.{}"
PORT = 8000
ADD = 4
TARGET = 1.2
WAIT = 120.0
"""Longest wait for one round's instances to serve (a bound, not a target)."""


def stack_text(catalog: tuple[int, int], listen: str, stats: str) -> str:
    user = sdk_service_user()
    return (
        f"catalog:\n  http: 127.0.0.1:{catalog[0]}\n  dns: 127.0.0.1:{catalog[1]}\n"
        f"local:\n  addresses: {NETWORK}\n"
        f"components:\n  lb:\n    listen: {listen}\n    stats: {stats}\n"
        "services:\n"
        "  web:\n"
        "    command: ${LEAPFROG_PYTHON} scale_who.py\n"
        "    replicas: 1\n"
        f"    port: {PORT}\n"
        "    route: {path: /web, strip_prefix: true}\n"
        "    check: {http: /health/ready}\n" + (f"    user: {user}\n" if user else "")
    )


class Seen:
    """Keep-alive clients on the entry point, noting when each instance first answered."""

    def __init__(self, listen: str, clients: int = 1, pause: float = 0.001) -> None:
        self.host, port = listen.rsplit(":", 1)
        self.port = int(port)
        self.first: dict[str, float] = {}
        self.requests = 0
        self.pause = pause
        self.phase = "start"
        self.failures: Counter[str] = Counter()
        """`phase: what failed` -> how many."""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._poll) for _ in range(clients)]

    def _poll(self) -> None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=5)
        while not self._stop.is_set():
            try:
                conn.request("GET", "/web/")
                response = conn.getresponse()
                body = response.read().decode().strip()
            except (OSError, http.client.HTTPException) as exc:
                with self._lock:
                    self.failures[f"{self.phase}: {type(exc).__name__}"] += 1
                conn.close()
                conn = http.client.HTTPConnection(self.host, self.port, timeout=5)
                time.sleep(0.005)
                continue
            now = time.perf_counter()
            with self._lock:
                self.requests += 1
                if response.status != 200:
                    self.failures[f"{self.phase}: {response.status} {body[:40]}"] += 1
                else:
                    self.first.setdefault(body, now)
            time.sleep(self.pause)
        conn.close()

    def reset(self) -> None:
        with self._lock:
            self.first.clear()

    def answered(self, names: set[str]) -> dict[str, float]:
        """perf_counter time at which each of `names` first answered."""
        with self._lock:
            return {n: self.first[n] for n in names if n in self.first}

    def when_all(self, names: set[str], deadline: float) -> float:
        """perf_counter time at which the last of `names` first answered."""
        while time.monotonic() < deadline:
            with self._lock:
                if names <= self.first.keys():
                    return max(self.first[n] for n in names)
            time.sleep(0.005)
        with self._lock:
            missing = names - self.first.keys()
        raise BenchError(f"{', '.join(sorted(missing))} never answered through the lb")

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(10)


def cli(root: Path, *args: str, timeout: float = WAIT) -> str:
    proc = subprocess.run(
        [str(CLI), *args],
        cwd=root,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        output = tail(proc.stdout + proc.stderr)
        raise BenchError(f"`leapfrog {' '.join(args)}` exited {proc.returncode}:\n{output}")
    return proc.stdout


def by_hand(root: Path) -> float:
    """Start ADD instances of the app at once; seconds until the slowest answers."""
    env = {
        "PATH": "/usr/bin:/bin",
        "LEAPFROG_SERVICE": "web",
        "LEAPFROG_REGISTER": "false",
        "PORT": str(PORT),
        "KAFKA_BOOTSTRAP_SERVERS": "",
    }
    procs: list[subprocess.Popen[bytes]] = []
    answered: dict[int, float] = {}
    try:
        started = time.perf_counter()
        for i in range(1, ADD + 1):
            procs.append(
                subprocess.Popen(
                    [sys.executable, str(APP)],
                    cwd=root,
                    env={**env, "HOST": BY_HAND.format(i), "LEAPFROG_INSTANCE": f"hand-{i}"},
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )

        def poll(i: int) -> None:
            deadline = time.monotonic() + WAIT
            while time.monotonic() < deadline and procs[i - 1].poll() is None:
                conn = http.client.HTTPConnection(BY_HAND.format(i), PORT, timeout=2)
                try:
                    conn.request("GET", "/x")
                    if conn.getresponse().status == 200:
                        answered[i] = time.perf_counter()
                        return
                except (OSError, http.client.HTTPException):
                    pass
                finally:
                    conn.close()
                time.sleep(0.005)

        pollers = [threading.Thread(target=poll, args=(i,)) for i in range(1, ADD + 1)]
        for thread in pollers:
            thread.start()
        for thread in pollers:
            thread.join()
        if len(answered) != ADD:
            raise BenchError(f"{ADD - len(answered)} instance(s) started by hand never answered")
        return max(answered.values()) - started
    finally:
        with no_interrupt():
            for proc in procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in procs:
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(5)


def _local(stamp: str) -> float:
    """The supervisor log's local `YYYY-MM-DDTHH:MM:SS.mmm` as epoch seconds."""
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f").timestamp()


def _json_lines(path: Path) -> list[dict[str, Any]]:
    found = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                found.append(json.loads(line))
    return found


SPLIT = (
    ("request", "cli", "the command's start until the supervisor has the request"),
    (
        "built",
        "build",
        "the request until the new instances are built (the supervisor loads the stack "
        "file, builds their launches and addresses)",
    ),
    ("spawned", "spawn", "built until the instance is forked (as the supervisor records it)"),
    ("serving", "own_start", "spawned until it serves on its own address"),
    ("registered", "register", "serving until registered in the catalog"),
    ("lb_applied", "lb", "registered until the load balancer's change is live"),
    ("served_through_lb", "routed", "live until it answers through the load balancer"),
)
"""The milestones of the last new instance to answer, in order: (mark, name of the span
that ends there, what the span is)."""


def timeline(
    root: Path, since: float, names: set[str], answered: dict[str, float]
) -> dict[str, float]:
    """Where one round's time went, from the stack's logs, in seconds after the command's
    spawn (`since`, epoch): when the supervisor had the request, and for the new instance
    that answered last through the load balancer (`answered`: name -> seconds) when it
    was spawned, served on its own address, was registered in the catalog, and the load
    balancer's change that routes it went live. Also `own_start_max`: the slowest new
    instance's own start (spawn until serving), the same thing the baseline measures."""
    logs = root / ".leapfrog" / "logs"
    marks: dict[str, float] = {}
    spawned: dict[str, float] = {}
    for line in (logs / "supervisor.log").read_text(errors="replace").splitlines():
        stamp, _, text = line.partition(" ")
        try:
            when = _local(stamp)
        except ValueError:
            continue
        if when < since:
            continue
        name = text.split(" ", 1)[0]
        if text.startswith("scale: asked") and "request" not in marks:
            marks["request"] = when - since
        elif text.startswith("scale: {") and "built" not in marks:
            marks["built"] = when - since
        elif name in names and " starting pid=" in text:
            spawned.setdefault(name, when - since)
    serving: dict[str, float] = {}
    registered: dict[str, float] = {}
    for name in names:
        for event in _json_lines(logs / f"{name}.log"):
            when = datetime.fromisoformat(event.get("ts", "").replace("Z", "+00:00")).timestamp()
            if when < since:
                continue
            message = str(event.get("message", ""))
            if message.startswith("serving on"):
                serving.setdefault(name, when - since)
            elif message == "registered in the catalog":
                registered.setdefault(name, when - since)
    last = max(answered, key=lambda n: answered[n])
    applied = sorted(
        float(e["live_at"]) - since
        for e in _json_lines(logs / "lb-1.log")
        if e.get("kind") == "lb.applied" and float(e.get("live_at", 0)) >= since
    )
    routed_by = [t for t in applied if t <= answered[last]]
    for key, found in (
        ("spawned", spawned.get(last)),
        ("serving", serving.get(last)),
        ("registered", registered.get(last)),
        ("lb_applied", routed_by[-1] if routed_by else None),
    ):
        if found is not None:
            marks[key] = found
    marks["served_through_lb"] = answered[last]
    own = [serving[n] - spawned[n] for n in names if n in serving and n in spawned]
    if own:
        marks["own_start_max"] = max(own)
    return {k: round(v, 3) for k, v in marks.items()}


def split(marks: dict[str, float]) -> dict[str, float]:
    """The spans between consecutive milestones of `marks` (see SPLIT), in seconds. The
    SDK logs "registered" once the catalog's answer is read, which on a busy machine can
    be after the load balancer already routes it: a span is never below 0."""
    spans: dict[str, float] = {}
    previous = 0.0
    for mark, name, _ in SPLIT:
        if mark in marks:
            spans[name] = round(max(0.0, marks[mark] - previous), 3)
            previous = max(previous, marks[mark])
    return spans


def with_leapfrog(root: Path, seen: Seen) -> tuple[float, dict[str, float]]:
    """`scale web=+ADD`: seconds until every new instance answered through the lb, and
    where that time went."""
    names = {f"web-{i}" for i in range(2, ADD + 2)}
    seen.reset()
    seen.phase = "scale up"
    wall = time.time()
    started = time.perf_counter()
    done = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            cli(root, "scale", f"web=+{ADD}")
        except BaseException as exc:
            errors.append(exc)
        done.set()

    threading.Thread(target=run).start()
    try:
        last = seen.when_all(names, time.monotonic() + WAIT)
    finally:
        done.wait(WAIT)
    if errors:
        raise errors[0]
    took = last - started
    answered = {n: t - started for n, t in seen.answered(names).items()}
    marks = timeline(root, wall, names, answered)
    seen.phase = "scale down"
    cli(root, "scale", "web=1")  # not timed
    seen.phase = "between rounds"
    return took, marks


def wait_routed(listen: str, deadline: float) -> None:
    host, port = listen.rsplit(":", 1)
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection(host, int(port), timeout=2)
        try:
            conn.request("GET", "/web/")
            if conn.getresponse().status == 200:
                return
        except (OSError, http.client.HTTPException):
            pass
        finally:
            conn.close()
        time.sleep(0.01)
    raise BenchError("the load balancer never routed /web")


def measure(rounds: int) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="lf-bench-scale-", dir="/tmp"))
    root.chmod(0o755)
    shutil.copy(APP, root / APP.name)
    (root / APP.name).chmod(0o644)
    listen, stats = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    (root / "leapfrog.yaml").write_text(stack_text((free_port(), free_port()), listen, stats))
    seen = Seen(listen)
    ours: list[float] = []
    baseline: list[float] = []
    timelines: list[dict[str, float]] = []
    try:
        progress("starting the stack (catalog, lb, web-1)")
        cli(root, "up", "-d", timeout=300)
        # `up` returns once web-1 is healthy; the load balancer routes it a moment later.
        wait_routed(listen, time.monotonic() + 60)
        seen.start()
        seen.when_all({"web-1"}, time.monotonic() + 60)
        seen.phase = "between rounds"
        for n in range(1, rounds + 1):
            baseline.append(by_hand(root))
            took, marks = with_leapfrog(root, seen)
            ours.append(took)
            timelines.append(marks)
            spans = " ".join(f"{k} {v:.3f}" for k, v in split(marks).items())
            progress(
                f"round {n}: by hand {baseline[-1]:.3f}s, leapfrog {took:.3f}s = {spans} "
                f"(slowest own start {marks.get('own_start_max', float('nan')):.3f}s)"
            )
    finally:
        with no_interrupt():
            seen.stop()
            subprocess.run(
                [str(CLI), "down"], cwd=root, capture_output=True, timeout=120, check=False
            )
            shutil.rmtree(root, ignore_errors=True)
    ratio = statistics.median(ours) / statistics.median(baseline)
    splits = [split(t) for t in timelines]
    return {
        "instances_added": ADD,
        "leapfrog_scale_s": {
            "median": round(statistics.median(ours), 3),
            "rounds": [round(s, 3) for s in ours],
        },
        "by_hand_s": {
            "median": round(statistics.median(baseline), 3),
            "rounds": [round(s, 3) for s in baseline],
        },
        "ratio": round(ratio, 2),
        "target": f"<= {TARGET}",
        "target_met": ratio <= TARGET,
        "leapfrog_timeline_median_s": _medians(timelines),
        "leapfrog_split_median_s": _medians(splits),
        "requests_through_lb": seen.requests,
        "failed_requests": sum(seen.failures.values()),
        "failures": dict(seen.failures) or "none",
        "loadavg": loadavg(),
    }


def _medians(rounds: list[dict[str, float]]) -> dict[str, float]:
    """Each key's median over the rounds that have it, in the order first seen."""
    keys = list(dict.fromkeys(k for r in rounds for k in r))
    return {k: round(statistics.median(r[k] for r in rounds if k in r), 3) for k in keys}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds of each side")
    parser.add_argument("--json", action="store_true", help="JSON on stdout instead of lines")
    args = parser.parse_args()
    emit(measure(max(1, args.rounds)), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(run_bench(main))
