"""Benchmark: how long `leapfrog scale web=+4` takes to put its request on the control
socket, the part of `bench/scale.py`'s `cli` span that is the command's own start.

This script plays the supervisor: a stack dir in a temp dir whose state file names this
process, and a Unix socket where the supervisor's control socket would be, which answers
`scale` with "nothing changed". The time runs from spawning the command until its request
line has arrived.

* leapfrog: `leapfrog scale web=+4`, which cli/quick.py sends before click is loaded.
* baseline: the same request through click: `leapfrog scale -fleapfrog.yaml web=+4` (the
  quick path leaves a short option cluster to click), so the same tree, the same file and
  the same request, with the command's start as it was before the quick path.
* floor: `python -c pass` with the same interpreter.

Rounds alternate; medians, p25 and min of each, and the ratio leapfrog / baseline. No
address or port is used, so it needs no lock; on a busy machine use more rounds.

    .venv/bin/python bench/scale_send.py [--rounds 25] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _shared import BenchError, emit, run_bench
from leapfrog.runtime.local.paths import StatePaths
from leapfrog.shared.procs import process_start_time

CLI = Path(sys.executable).parent / "leapfrog"
SIDES = {
    "leapfrog": [str(CLI), "scale", "web=+4"],
    "baseline": [str(CLI), "scale", "-fleapfrog.yaml", "web=+4"],
    "floor": [sys.executable, "-c", "pass"],
}


def _stack(root: Path) -> socket.socket:
    """A stack dir whose state names this process as its running supervisor."""
    (root / "leapfrog.yaml").write_text(
        "catalog: {enabled: false}\nservices:\n  web: {command: sleep 1}\n"
    )
    paths = StatePaths((root / ".leapfrog").resolve())
    paths.state_file.parent.mkdir(parents=True)
    me = {"pid": os.getpid(), "start_ticks": process_start_time(os.getpid())}
    paths.state_file.write_text(json.dumps({"supervisor": me}))
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(paths.control_socket))
    server.listen(4)
    server.settimeout(30)
    return server


def _one(argv: list[str], root: Path, server: socket.socket) -> float:
    began = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        if argv[1:2] == ["-c"]:
            proc.wait(30)
            return time.perf_counter() - began
        conn, _ = server.accept()
        with conn, conn.makefile("rb") as lines:
            asked = json.loads(lines.readline())
            took = time.perf_counter() - began
            assert asked == {"op": "scale", "replicas": {"web": "+4"}}, asked
            conn.sendall(b'{"scaled": {"web": {"from": 1, "to": 1}}}\n')
        _, err = proc.communicate(timeout=30)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {err.decode()}")
        return took
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def measure(rounds: int) -> dict[str, Any]:
    times: dict[str, list[float]] = {side: [] for side in SIDES}
    with tempfile.TemporaryDirectory(prefix="lf-scale-send-") as tmp:
        root = Path(tmp)
        server = _stack(root)
        with server:
            for argv in SIDES.values():  # warm the bytecode caches
                _one(argv, root, server)
            for _ in range(rounds):
                for side, argv in SIDES.items():
                    times[side].append(_one(argv, root, server))
    summary: dict[str, Any] = {}
    for side, values in times.items():
        ordered = sorted(values)
        summary[side] = {
            "median_ms": round(statistics.median(ordered) * 1000, 1),
            "p25_ms": round(ordered[len(ordered) // 4] * 1000, 1),
            "min_ms": round(ordered[0] * 1000, 1),
        }
    summary["ratio"] = round(summary["leapfrog"]["median_ms"] / summary["baseline"]["median_ms"], 2)
    summary["rounds"] = rounds
    summary["loadavg"] = Path("/proc/loadavg").read_text().split()[0]
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=25, help="rounds of each side")
    parser.add_argument("--json", action="store_true", help="JSON on stdout instead of lines")
    args = parser.parse_args()

    def body() -> int:
        try:
            result = measure(max(1, args.rounds))
        except (OSError, RuntimeError, AssertionError, subprocess.TimeoutExpired) as exc:
            raise BenchError(str(exc)) from None
        emit(result, args.json)
        return 0

    return run_bench(body)


if __name__ == "__main__":
    sys.exit(main())
