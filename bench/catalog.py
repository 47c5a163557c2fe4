"""Benchmark: the embedded Consul-compatible catalog against a bare asyncio HTTP server.

Three measurements of `leapfrog catalog serve` (a child process on free loopback ports,
with a temp data dir), each next to the same load on a bare asyncio server that does no
catalog work (bench/_catalog_bare.py):

* registrations per second: 10,000 distinct instances (1,000 services x 10) PUT to
  /v1/agent/service/register over 16 keep-alive connections (target >= 2,000/s);
* notify latency: 1,000 blocking GETs on one service's /v1/health/service (plus 100 on
  other services, which must not wake), then one change of it per round (an instance
  registered, then deregistered again); p50/p99/max from sending the change to each
  answer (target p99 <= 50 ms, and the median round's p99 <= 1.2x the bare server's).
  Both servers run at once and their rounds are interleaved, the same client sending the
  same bytes; the bare server fsyncs each change before answering, as the catalog must;
* memory: the server's VmRSS empty, with the 10,000 instances (target <= 150 MB) and with
  the watchers parked.

Run as `.venv/bin/python bench/catalog.py [--json]`. Everything is bounded in time and
count, stays on loopback, and the servers are stopped even on Ctrl-C. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from _catalog_load import (
    REGISTER,
    Change,
    WatchSession,
    register_all,
    registration_body,
)
from _catalog_proc import BenchError, ServerProcess
from _catalog_report import render, summarize

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_PYTHON = REPO / ".venv" / "bin" / "python"
BARE = HERE / "_catalog_bare.py"

REGISTER_LIMIT = 60.0  # seconds the registrations may take before the rest is skipped
ROUND_LIMIT = 10.0  # seconds every watcher has to be answered after a change
SERVER_CPUS, CLIENT_CPUS = {0}, {1}  # with --pin
TTL = "10m"  # long enough that no check expires during the run (that would wake watchers)

err = Console(stderr=True, highlight=False)


def service_name(number: int) -> str:
    return f"bench-{number:04d}"


def bodies(count: int, per_service: int, ttl: str | None) -> list[bytes]:
    return [
        registration_body(
            service_name(i // per_service), f"{service_name(i // per_service)}-{i:05d}", i, ttl
        )
        for i in range(count)
    ]


def catalog_change(service: str, ttl: str | None) -> Change:
    """Round 0, 2, 4, ... registers one more instance of the watched service, round 1, 3,
    ... deregisters it again: every round is a change its watchers must see, and the
    answer stays the same size (10 or 11 instances) however many rounds run."""
    instance = f"{service}-watch"

    def change(number: int) -> tuple[str, str, bytes, bytes | None]:
        if number % 2:
            return ("PUT", f"/v1/agent/service/deregister/{instance}", b"", None)
        body = registration_body(service, instance, 90_000, ttl)
        return ("PUT", REGISTER, body, instance.encode())

    return change


def bare_change(service: str, body: Callable[[], bytes]) -> Change:
    """Each round triggers the bare server to answer its watchers with `body()`: the
    answer the catalog sent its watchers in the same round, so both send the same bytes."""
    return lambda _: ("PUT", f"/bench/trigger/{service}", body(), None)


async def fill(server: ServerProcess, args: argparse.Namespace, say: Callable[[str], None]) -> Any:
    """Memory empty, the registrations, memory with the instances registered."""
    await server.wait_idle()
    empty_rss, _ = server.memory_mb()
    say(f"{server.label}: {empty_rss:.1f} MiB empty; registering {args.instances} instances")
    regs = await register_all(
        server.host,
        server.port,
        bodies(args.instances, args.per_service, None if args.no_check else TTL),
        args.connections,
        REGISTER_LIMIT,
    )
    await server.wait_idle()
    full_rss, _ = server.memory_mb()
    say(
        f"{server.label}: {regs.done} registered in {regs.seconds:.2f}s ({regs.rate:,.0f}/s), "
        f"{full_rss:.1f} MiB"
    )
    return regs, empty_rss, full_rss


async def measure(
    catalog: ServerProcess,
    bare: ServerProcess,
    args: argparse.Namespace,
    say: Callable[[str], None],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Registrations on each server in turn, then the notify rounds interleaved: catalog,
    bare, catalog, bare, ... with the same client and the same bytes, so whatever else the
    machine does at a moment hits both servers' rounds alike."""
    filled = {s.label: await fill(s, args, say) for s in (catalog, bare)}
    services = max(1, args.instances // args.per_service)
    others = [service_name(n) for n in range(1, min(services, 11))] or [service_name(1)]
    watched = service_name(0)
    on_catalog = WatchSession(
        catalog, catalog_change(watched, None if args.no_check else TTL), ROUND_LIMIT
    )
    on_bare = WatchSession(bare, bare_change(watched, lambda: on_catalog.last_body), ROUND_LIMIT)
    sessions = (on_catalog, on_bare)
    try:
        for session in sessions:
            await session.open(
                service=watched,
                others=others,
                watchers=args.watchers,
                other_watchers=args.other_watchers,
            )
        say(
            f"{args.watchers} + {args.other_watchers} watchers parked on each; "
            f"{args.rounds} rounds a server, interleaved"
        )
        for _ in range(args.rounds):
            for session in sessions:
                await session.round()
    finally:
        for session in sessions:
            session.close()
    results = {}
    for session in sessions:
        server = session.server
        if not server.alive():
            raise BenchError(f"{server.label} exited {server.proc.returncode} during the run")
        regs, empty_rss, full_rss = filled[server.label]
        results[server.label] = {
            "registrations": regs,
            "watch": session.result(),
            "memory": {
                "empty_mb": empty_rss,
                "registered_mb": full_rss,
                "watchers_mb": session.parked_rss_mb,
                "peak_mb": server.memory_mb()[1],
            },
        }
    return results["catalog"], results["bare"]


def run(args: argparse.Namespace, work: Path, say: Callable[[str], None]) -> dict[str, Any]:
    python = str(args.python)
    catalog_argv = [python, "-m", "leapfrog", "catalog", "serve", "--http", "127.0.0.1:0"]
    catalog_argv += ["--dns", "127.0.0.1:0", "--data-dir", str(work / "catalog-data")]
    catalog_argv += ["--acl", "off"]
    cpus = SERVER_CPUS if args.pin else None
    bare_argv = [python, str(BARE)]
    if not args.bare_no_fsync:
        bare_argv += ["--journal", str(work / "bare-journal")]
    servers: list[ServerProcess] = []
    try:
        for label, argv in (("catalog", catalog_argv), ("bare", bare_argv)):
            servers.append(ServerProcess(label, argv, work / f"{label}.log", cpus))
            say(f"{label}: pid {servers[-1].pid} on {servers[-1].host}:{servers[-1].port}")
        catalog, bare = asyncio.run(measure(servers[0], servers[1], args, say))
    finally:
        statuses = [server.stop() for server in servers]
    catalog["exit_status"], bare["exit_status"] = statuses
    return summarize(args, catalog, bare, len(catalog["watch"].last_body))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--instances", type=int, default=10_000, help="to register (10000)")
    parser.add_argument("--per-service", type=int, default=10, help="instances a service (10)")
    parser.add_argument("--connections", type=int, default=16, help="registering clients (16)")
    parser.add_argument("--watchers", type=int, default=1_000, help="on the changed one (1000)")
    parser.add_argument(
        "--other-watchers", type=int, default=100, help="on 10 other services (100)"
    )
    parser.add_argument("--rounds", type=int, default=25, help="changes a server, one a round (25)")
    parser.add_argument("--no-check", action="store_true", help="register without a TTL check")
    parser.add_argument(
        "--bare-no-fsync",
        action="store_true",
        help="the bare server answers watchers without first fsyncing the change",
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="run the server on CPU 0 and this load generator on CPU 1 (needs 2 CPUs)",
    )
    parser.add_argument("--python", type=Path, default=DEFAULT_PYTHON, help="runs both servers")
    parser.add_argument("--json", action="store_true", help="print a JSON summary, no table")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, data)")
    args = parser.parse_args(argv)
    if not 1 <= args.instances <= 100_000 or not 1 <= args.per_service <= args.instances:
        parser.error("--instances must be 1-100000 and --per-service 1-instances")
    if not 1 <= args.connections <= 256 or not 1 <= args.rounds <= 50:
        parser.error("--connections must be 1-256 and --rounds 1-50")
    if args.pin and (os.cpu_count() or 1) < 2:
        parser.error("--pin needs at least 2 CPUs")
    if not 1 <= args.watchers <= 5_000 or not 0 <= args.other_watchers <= 5_000:
        parser.error("--watchers must be 1-5000 and --other-watchers 0-5000")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.python.exists():
        err.print(f"[red]error:[/] {args.python} not found (run `make bootstrap`, or --python)")
        return 2
    if args.pin:
        os.sched_setaffinity(0, CLIENT_CPUS)
    work = Path(tempfile.mkdtemp(prefix="lfbench-catalog-", dir="/tmp"))

    def say(text: str) -> None:
        err.print(f"[dim]{time.strftime('%H:%M:%S')} {text}[/]")

    if args.keep:
        say(f"workspace: {work}")
    code, result = 0, None
    try:
        result = run(args, work, say)
    except BenchError as exc:
        err.print(f"[red]error:[/] {exc}")
        code = 1
    except KeyboardInterrupt:
        err.print("interrupted; the servers were stopped")
        code = 130
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if result is not None:
        result["environment"] = {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
            "server_python": str(args.python),
        }
        if result["problems"] and code == 0:
            code = 1
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            render(result, Console(highlight=False))
    return code


if __name__ == "__main__":
    sys.exit(main())
