"""Benchmark: the embedded Consul-compatible catalog against a bare asyncio HTTP server.

Three measurements of `leapfrog catalog serve` (a child process on free loopback ports,
with a temp data dir), each next to the same load on a bare asyncio server that does no
catalog work (bench/_catalog_bare.py):

* registrations per second: 10,000 distinct instances (1,000 services x 10) PUT to
  /v1/agent/service/register over 16 keep-alive connections (target >= 2,000/s);
* notify latency: 1,000 blocking GETs on one service's /v1/health/service (plus 100 on
  other services, which must not wake), then one registration of a new instance of it per
  round; p50/p99/max from sending the change to each answer (target p99 <= 50 ms);
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
    register_all,
    registration_body,
    watch_rounds,
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
    """Each round registers one new instance of the watched service."""

    def change(number: int) -> tuple[str, str, bytes, bytes | None]:
        instance = f"{service}-watch-{number}"
        return (
            "PUT",
            REGISTER,
            registration_body(service, instance, 90_000 + number, ttl),
            (instance.encode()),
        )

    return change


def bare_change(service: str, body: bytes) -> Change:
    """Each round triggers the bare server to answer its watchers with the catalog's body."""
    return lambda _: ("PUT", f"/bench/trigger/{service}", body, None)


async def measure(
    server: ServerProcess, args: argparse.Namespace, change: Change, say: Callable[[str], None]
) -> dict[str, Any]:
    """The three measurements on one running server."""
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
        f"{full_rss:.1f} MiB; {args.watchers} + {args.other_watchers} watchers"
    )
    services = max(1, args.instances // args.per_service)
    others = [service_name(n) for n in range(1, min(services, 11))] or [service_name(1)]
    watch = await watch_rounds(
        server,
        service=service_name(0),
        others=others,
        watchers=args.watchers,
        other_watchers=args.other_watchers,
        rounds=args.rounds,
        change=change,
        limit=ROUND_LIMIT,
    )
    _, peak = server.memory_mb()
    return {
        "registrations": regs,
        "watch": watch,
        "memory": {
            "empty_mb": empty_rss,
            "registered_mb": full_rss,
            "watchers_mb": watch.parked_rss_mb,
            "peak_mb": peak,
        },
    }


def phase(
    label: str,
    *,
    argv: list[str],
    work: Path,
    args: argparse.Namespace,
    change: Change,
    say: Callable[[str], None],
) -> dict[str, Any]:
    server = ServerProcess(label, argv, work / f"{label}.log", SERVER_CPUS if args.pin else None)
    say(f"{label}: pid {server.pid} on {server.host}:{server.port}")
    try:
        result = asyncio.run(measure(server, args, change, say))
        if not server.alive():
            raise BenchError(f"{label} exited {server.proc.returncode} during the run")
    finally:
        status = server.stop()
    result["exit_status"] = status
    return result


def run(args: argparse.Namespace, work: Path, say: Callable[[str], None]) -> dict[str, Any]:
    python = str(args.python)
    watched = service_name(0)
    data = work / "catalog-data"
    catalog_argv = [python, "-m", "leapfrog", "catalog", "serve", "--http", "127.0.0.1:0"]
    catalog_argv += ["--dns", "127.0.0.1:0", "--data-dir", str(data), "--acl", "off"]
    change = catalog_change(watched, None if args.no_check else TTL)
    catalog = phase("catalog", argv=catalog_argv, work=work, args=args, change=change, say=say)
    body = catalog["watch"].last_body
    bare_argv = [python, str(BARE)]
    change = bare_change(watched, body)
    bare = phase("bare", argv=bare_argv, work=work, args=args, change=change, say=say)
    return summarize(args, catalog, bare, len(body))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--instances", type=int, default=10_000, help="to register (10000)")
    parser.add_argument("--per-service", type=int, default=10, help="instances a service (10)")
    parser.add_argument("--connections", type=int, default=16, help="registering clients (16)")
    parser.add_argument("--watchers", type=int, default=1_000, help="on the changed one (1000)")
    parser.add_argument(
        "--other-watchers", type=int, default=100, help="on 10 other services (100)"
    )
    parser.add_argument("--rounds", type=int, default=5, help="changes, one a round (5)")
    parser.add_argument("--no-check", action="store_true", help="register without a TTL check")
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
