"""Requests/s through an instance's network namespace, the stack's bridge and its
nftables firewall, against the same between two loopback addresses: same run, ratio
printed (target >= 0.9).

Two stacks, both with a server (`api`, bench/apps/net_pingpong.py) and a caller
(`load`, `callers: [load]`): one on loopback addresses (127.78.14.0/24), one with
`network: {isolation: namespaces}` (10.77.14.0/24). The load (bench/_netns_client.py)
runs inside the caller's own network namespace (nsenter) for the isolated stack and
from the host for the loopback one; rounds alternate, the best of each counts.
Bounded: ROUNDS x SECONDS per side, plus two `up`s and `down`s.

Run (root; under the shared lock): flock /tmp/lf-itest.lock .venv/bin/python bench/netns.py
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from leapfrog.runtime.local.network.namespaces import unavailable
from leapfrog.testing import StackDir

HERE = Path(__file__).parent
PORT = 18750
TARGET = 0.9
# Services run as the unprivileged app user, who cannot reach a Python under /root.
PYTHON = shutil.which("python3", path="/usr/bin:/bin") or sys.executable


def stack_text(isolated: bool) -> str:
    network = (
        "network: {isolation: namespaces, subnet: 10.77.14.0/24}\n"
        if isolated
        else "local: {addresses: 127.78.14.0/24}\n"
    )
    return (
        "catalog: {enabled: false}\n"
        + network
        + f"""services:
  api:
    command: {PYTHON} net_pingpong.py
    port: {PORT}
    check: {{tcp: true}}
    callers: [load]
  load:
    command: sleep 3600
"""
    )


def run_load(stack: StackDir, isolated: bool, seconds: float, connections: int) -> float:
    status = {i["name"]: i for i in stack.status()}
    host = status["api-1"]["address"]
    argv = [sys.executable, str(HERE / "_netns_client.py"), host, str(PORT), str(seconds)]
    argv.append(str(connections))
    if isolated:
        argv = ["nsenter", "-t", str(status["load-1"]["pid"]), "-n", *argv]
    done = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=seconds + 30)
    if done.returncode != 0:
        raise SystemExit(f"load failed: {done.stderr.strip()}")
    result = json.loads(done.stdout)
    return float(result["requests"]) / float(result["seconds"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=4)
    args = parser.parse_args()
    why = unavailable()
    if why is not None:
        print(f"cannot run: {why}", file=sys.stderr)
        return 2
    with (
        StackDir(prefix="lf-bench-netns-") as plain,
        StackDir(prefix="lf-bench-netns-") as isolated,
    ):
        for made, flag in ((plain, False), (isolated, True)):
            made.copy_in(HERE / "apps" / "net_pingpong.py")
            made.write(stack_text(flag))
            up = made.up()
            if up.code != 0:
                print(up.output, file=sys.stderr)
                return 1
        rates: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(args.rounds):
            for made, flag in ((plain, False), (isolated, True)):
                rates[flag].append(run_load(made, flag, args.seconds, args.connections))
    base, ns = max(rates[False]), max(rates[True])
    print(
        f"loopback addresses:        {base:10.0f} requests/s  (rounds: "
        + ", ".join(f"{r:.0f}" for r in rates[False])
        + ")"
    )
    print(
        f"namespace/bridge/nftables: {ns:10.0f} requests/s  (rounds: "
        + ", ".join(f"{r:.0f}" for r in rates[True])
        + ")"
    )
    ratio = ns / base
    verdict = "meets" if ratio >= TARGET else "misses"
    print(f"ratio: {ratio:.2f}x ({verdict} the target of {TARGET}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
