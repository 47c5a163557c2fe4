"""Requests per second of one handler served by the SDK (`leapfrog.service`: health
endpoints, per-route metrics, the draining server) against the same handler on bare
uvicorn + Starlette, with the same loop (uvloop) and parser (httptools).

Both servers are started once and stay up; the rounds alternate between them (bare,
SDK, bare, SDK, ...), short and many, so drift on the machine hits both alike and no
round pays a server's start. The load is wrk on loopback, bounded in time. Prints
requests/s, p99 latency and the ratio of the medians (target >= 0.95), the server's CPU
time per request (from /proc), and the same path measured in process without sockets
(bench/_sdk_inprocess.py), which other work on a shared machine disturbs far less.

    .venv/bin/python bench/sdk.py [--rounds 10] [--seconds 3] [--connections 32]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

from leapfrog.testing import free_port

APP = Path(__file__).parent / "apps" / "sdk_hello.py"
HOST = "127.0.0.1"


def serve(mode: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(APP), mode, HOST, str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={"PATH": "/usr/bin:/bin", "KAFKA_BOOTSTRAP_SERVERS": ""},
    )
    url = f"http://{HOST}:{port}/"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"the {mode} server did not start")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(url: str, seconds: int, connections: int) -> tuple[float, float, int]:
    """(requests/s, p99 ms, requests) from one wrk run; errors fail the benchmark."""
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    ).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise SystemExit(f"wrk saw errors:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    assert p99 is not None
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    count = re.search(r"(\d+) requests in", out)
    assert count is not None
    return rps, float(p99.group(1)) * scale, int(count.group(1))


def in_process(mode: str) -> float:
    """Microseconds of CPU per request of `mode`'s request path, without sockets."""
    out = subprocess.run(
        [sys.executable, str(Path(__file__).parent / "_sdk_inprocess.py"), mode],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={"PATH": "/usr/bin:/bin", "KAFKA_BOOTSTRAP_SERVERS": ""},
    ).stdout
    return float(out.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--in-process-rounds", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: run scripts/bootstrap.sh (apt install wrk)")
    modes = ("bare", "sdk")
    results: dict[str, list[tuple[float, float]]] = {m: [] for m in modes}
    cpu_us: dict[str, list[float]] = {m: [] for m in modes}
    servers: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
    try:
        for mode in modes:
            servers[mode] = serve(mode)
            wrk(servers[mode][1], 1, args.connections)  # warm-up
        for round_no in range(1, args.rounds + 1):
            for mode in modes:
                proc, url = servers[mode]
                before = cpu_seconds(proc.pid)
                rps, p99, count = wrk(url, args.seconds, args.connections)
                cpu_us[mode].append((cpu_seconds(proc.pid) - before) / count * 1e6)
                results[mode].append((rps, p99))
                print(
                    f"round {round_no} {mode:>4}: {rps:9.0f} req/s  p99 {p99:6.2f} ms  "
                    f"server CPU {cpu_us[mode][-1]:5.1f} us/request",
                    flush=True,
                )
    finally:
        for proc, _ in servers.values():
            proc.send_signal(signal.SIGTERM)
        for proc, _ in servers.values():
            proc.wait(20)
    inproc: dict[str, list[float]] = {m: [] for m in modes}
    for _ in range(args.in_process_rounds):
        for mode in modes:
            inproc[mode].append(in_process(mode))
    bare = statistics.median(r for r, _ in results["bare"])
    sdk = statistics.median(r for r, _ in results["sdk"])
    pairs = [s / b for (s, _), (b, _) in zip(results["sdk"], results["bare"], strict=True)]
    print()
    print(f"bare uvicorn+Starlette: {bare:9.0f} req/s (median of {args.rounds})")
    print(f"leapfrog.service      : {sdk:9.0f} req/s")
    print(f"ratio sdk/bare        : {sdk / bare:.3f}  (target >= 0.95)")
    print(f"  round by round      : {' '.join(f'{r:.2f}' for r in pairs)}")
    bare_cpu, sdk_cpu = statistics.median(cpu_us["bare"]), statistics.median(cpu_us["sdk"])
    print(f"server CPU per request: bare {bare_cpu:.1f} us, sdk {sdk_cpu:.1f} us (median)")
    print(f"ratio bare/sdk CPU    : {bare_cpu / sdk_cpu:.3f}  (the requests/s one core gives)")
    if not args.in_process_rounds:
        return
    bare_in, sdk_in = min(inproc["bare"]), min(inproc["sdk"])
    print(
        f"in process, no sockets: bare {bare_in:.2f} us, sdk {sdk_in:.2f} us a request "
        f"(best of {args.in_process_rounds}): the SDK adds {sdk_in - bare_in:.2f} us, "
        f"ratio {bare_in / sdk_in:.3f}"
    )


if __name__ == "__main__":
    main()
