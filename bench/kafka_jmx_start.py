"""Benchmark: what the Prometheus JMX exporter's java agent adds to Kafka's start.

The Kafka component is started (install from cache, files, init, process, first healthy
metadata answer and setup, through `leapfrog.testing.run_component`) with and without
`jmx_exporter_port`, alternating which goes first, on 127.88.1.1 and 127.88.1.2; the
time to healthy of each is measured, and the ratio agent / plain printed. Every broker
is stopped and its directory removed (also on Ctrl-C).

Run as `.venv/bin/python bench/kafka_jmx_start.py [--rounds 2] [--json]`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from leapfrog.testing import run_component

ADDRESSES = {"plain": "127.88.1.1", "agent": "127.88.1.2"}


def start_seconds(kind: str) -> float:
    base = Path(tempfile.mkdtemp(prefix="lf-bench-jmx-"))
    base.chmod(0o755)
    options: dict[str, Any] = {"jmx_exporter_port": 7071} if kind == "agent" else {}
    try:
        with run_component("kafka", options, base, address=ADDRESSES[kind], start=False) as run:
            started = time.monotonic()
            run.start()
            return time.monotonic() - started
    finally:
        shutil.rmtree(base, ignore_errors=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    times: dict[str, list[float]] = {"plain": [], "agent": []}
    for round_number in range(args.rounds):
        order = ["plain", "agent"] if round_number % 2 == 0 else ["agent", "plain"]
        for kind in order:
            times[kind].append(start_seconds(kind))
    plain, agent = (statistics.median(times[k]) for k in ("plain", "agent"))
    result = {"plain_s": plain, "agent_s": agent, "ratio": agent / plain, "rounds": times}
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"kafka start, plain: {plain:.1f}s  with the JMX agent: {agent:.1f}s  "
            f"ratio {agent / plain:.2f}x  (median of {args.rounds})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
