"""Benchmark: `leapfrog up -d` of many trivial services, against starting them directly.

Two measurements, in one run:

* up time: `leapfrog up -d` of N trivial HTTP services (wall clock from spawning the
  command until it exits 0, which it does once every instance passed its check), against
  a baseline that starts the same N processes with subprocess.Popen and polls each one's
  GET /health every 10 ms until all answer 200. Rounds alternate (baseline, leapfrog, ...);
  the target is median(leapfrog) <= 1.2 x median(baseline).
* memory: the supervisor's resident set (VmRSS) with 20 and 50 units of `/bin/sleep`,
  against a target of 80 MB (MiB).

Run as `.venv/bin/python bench/up_many.py [--services 20] [--rounds 3] [--json]`.
Everything is bounded in time, stays on loopback, and is cleaned up (leapfrog down, then
a kill of anything this run started) even on Ctrl-C. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import pwd
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from _shared import (
    BenchError,
    bench_env,
    checked_up,
    cli_ok,
    no_interrupt,
    tail,
    timed_cli,
)

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
APP = HERE / "apps" / "trivial.py"
DEFAULT_CLI = REPO / ".venv" / "bin" / "leapfrog"
SERVICE_PYTHON = "/usr/bin/python3"
APP_USER = "leapfrog"  # leapfrog's default local.app_user

PORT = 8000
BASELINE_PREFIX = "127.77.0."  # baseline instance i listens on 127.77.0.(i + 2)
HTTP_NETWORK = "127.78.0.0/24"  # leapfrog's addresses for the HTTP stack
MEMORY_NETWORKS = {20: "127.79.0.0/24", 50: "127.80.0.0/24"}

RATIO_TARGET = 1.2
RSS_TARGET_MB = 80.0
POLL_EVERY = 0.010
HTTP_TIMEOUT = 1.0
HEALTH_DEADLINE = 30.0  # every service must answer within this
UP_TIMEOUT = 120.0
DOWN_TIMEOUT = 60.0
CLI_TIMEOUT = 15.0  # status and other quick commands
STOP_GRACE = 5.0  # baseline processes get SIGTERM, then SIGKILL after this
SETTLE = 0.5  # pause after `up -d` before reading the supervisor's memory

err = Console(stderr=True, highlight=False)


# -- processes ----------------------------------------------------------------------------


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _is_zombie(pid: int) -> bool:
    try:
        stat = _read(f"/proc/{pid}/stat")
    except OSError:
        return True  # gone counts as not running
    return stat[stat.rindex(b")") + 2 : stat.rindex(b")") + 3] == b"Z"


def marked_processes(marker: str) -> list[int]:
    """Live processes of this run, found by their environment.

    The supervisor and baseline processes carry LEAPFROG_BENCH=<marker> (this script sets
    it), leapfrog's instances LEAPFROG_STACK=<marker>-... (the stacks are named so).
    Zombies have exited and are left out.
    """
    needles = (f"LEAPFROG_BENCH={marker}\0".encode(), f"LEAPFROG_STACK={marker}-".encode())
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = _read(f"/proc/{entry.name}/environ")
        except OSError:
            continue
        if any(n in environ for n in needles) and not _is_zombie(int(entry.name)):
            found.append(int(entry.name))
    return found


def kill_marked(marker: str, deadline: float = 5.0) -> list[int]:
    """SIGKILL every process of this run that is still alive; returns the pids it found."""
    found = marked_processes(marker)
    for pid in found:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    end = time.monotonic() + deadline
    while marked_processes(marker) and time.monotonic() < end:
        time.sleep(0.02)
    return found


def rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process, in MiB."""
    fields: dict[str, float] = {}
    for line in _read(f"/proc/{pid}/status").decode().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024  # kB
    return fields["VmRSS"], fields["VmHWM"]


def http_ok(host: str, port: int, path: str = "/health", timeout: float = HTTP_TIMEOUT) -> bool:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def address_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


# -- the workspace and leapfrog ----------------------------------------------------------


@dataclass
class Workspace:
    """A temp dir every user can enter, holding the app and one stack dir per stack."""

    root: Path
    marker: str
    cli: Path
    app: Path
    start_interval: str | None
    pycache: str
    """warm: the CLI compiles to a bytecode cache in this dir; inherit: as the environment says."""
    stacks: list[Path] = field(default_factory=list)
    """Stack files written so far; each gets a `leapfrog down` at the end."""

    @classmethod
    def create(cls, cli: Path, start_interval: str | None, pycache: str) -> Workspace:
        marker = f"lfb{uuid.uuid4().hex[:10]}"
        root = Path(tempfile.mkdtemp(prefix=f"{marker}-", dir="/tmp"))
        root.chmod(0o755)
        app = root / "trivial.py"
        shutil.copyfile(APP, app)
        app.chmod(0o644)
        return cls(root, marker, cli, app, start_interval, pycache)

    def write_stack(self, label: str, services: dict[str, dict[str, Any]], network: str) -> Path:
        stack_dir = self.root / label
        stack_dir.mkdir(mode=0o755)
        stack_dir.chmod(0o755)
        spec = {
            "name": f"{self.marker}-{label}",
            "services": services,
            # The supervisor alone is measured here (bench/catalog.py measures the catalog).
            "catalog": {"enabled": False},
            "local": {"addresses": network},
        }
        path = stack_dir / "leapfrog.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        self.stacks.append(path)
        return path

    def http_stack(self, count: int) -> Path:
        check: dict[str, Any] = {"http": "/health"}
        if self.start_interval is not None:
            check["start_interval"] = self.start_interval
        services = {
            f"svc-{i:02d}": {
                "command": [SERVICE_PYTHON, str(self.app)],
                "port": PORT,
                "check": dict(check),
            }
            for i in range(1, count + 1)
        }
        return self.write_stack(f"http{count}", services, HTTP_NETWORK)

    def sleep_stack(self, count: int, network: str) -> Path:
        services = {f"unit-{i:02d}": {"command": ["/bin/sleep", "3600"]} for i in range(count)}
        return self.write_stack(f"mem{count}", services, network)

    def run_cli(self, stack: Path, *args: str, timeout: float) -> tuple[int, float, str]:
        env = bench_env(self.marker, self.pycache, self.root)
        return timed_cli(self.cli, stack, args, timeout, env)

    def cli_ok(self, stack: Path, *args: str, timeout: float = CLI_TIMEOUT) -> str:
        return cli_ok(self.run_cli, stack, *args, timeout=timeout)

    def supervisor_memory(self, stack: Path) -> tuple[int, float, float]:
        """(pid, VmRSS MiB, VmHWM MiB) of the stack's supervisor, whose pid is in state.json."""
        state_file = stack.parent / ".leapfrog" / "run" / "state.json"
        try:
            pid = int(json.loads(state_file.read_text())["supervisor"]["pid"])
            return (pid, *rss_mb(pid))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise BenchError(
                f"cannot read the supervisor's memory via {state_file}: {exc}"
            ) from None

    def supervisor_started(self, stack: Path) -> float:
        """When the stack's supervisor started (wall clock, from state.json)."""
        state_file = stack.parent / ".leapfrog" / "run" / "state.json"
        try:
            return float(json.loads(state_file.read_text())["supervisor"]["started_at"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            message = f"cannot read the supervisor's start via {state_file}: {exc}"
            raise BenchError(message) from None

    def down(self, stack: Path) -> list[str]:
        """`leapfrog down`, then check that nothing of this run is left; returns problems."""
        problems: list[str] = []
        try:
            self.cli_ok(stack, "down", timeout=DOWN_TIMEOUT)
        except (BenchError, OSError, subprocess.SubprocessError) as exc:
            problems.append(f"{stack.parent.name}: down failed: {exc}")
        left = marked_processes(self.marker)
        if left:
            listing = ", ".join(f"{pid} ({_cmdline(pid)})" for pid in left)
            problems.append(f"{stack.parent.name}: left running after down: {listing}")
            kill_marked(self.marker)
        return problems

    def cleanup(self, keep: bool) -> list[str]:
        """Stop every stack ever written, kill any straggler, remove the temp dir."""
        problems: list[str] = []
        with no_interrupt():
            for stack in reversed(self.stacks):
                if not marked_processes(self.marker):
                    break  # every stack is down already
                with contextlib.suppress(BenchError, OSError, subprocess.SubprocessError):
                    self.cli_ok(stack, "down", timeout=DOWN_TIMEOUT)
            stragglers = kill_marked(self.marker)
            if stragglers:
                problems.append(f"killed {len(stragglers)} process(es) left at the end")
            if not keep:
                shutil.rmtree(self.root, ignore_errors=True)
        return problems


def _cmdline(pid: int) -> str:
    try:
        return _read(f"/proc/{pid}/cmdline").replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


# -- the rounds ----------------------------------------------------------------------------


PHASES = (
    ("to_supervisor", "→ supervisor runs"),
    ("to_first_spawn", "→ first spawn"),
    ("spawning", "→ last spawn"),
    ("to_healthy", "→ all healthy"),
    ("to_exit", "→ `up -d` exits"),
)
PHASES_LEGEND = (
    "phases of `up -d`: → supervisor runs = CLI start, stack file, prepare, fork; → first "
    "spawn = the supervisor's start until it recorded a started process; → last spawn = "
    "the other spawns; → all healthy = until the last check passed; → `up -d` exits = "
    "the watch and the report"
)


def _stamp(line: str) -> float | None:
    """The wall-clock time of a supervisor.log line (`2026-01-02T03:04:05.678 ...`)."""
    try:
        whole = time.mktime(time.strptime(line[:19], "%Y-%m-%dT%H:%M:%S"))
        return whole + int(line[20:23]) / 1000
    except (ValueError, OverflowError):
        return None


def split_of_up(
    log: Path, offset: int, began: float, elapsed: float, supervisor_started: float
) -> dict[str, float]:
    """Where the seconds of one `up -d` went, from the supervisor's log of that round: the
    instances' spawns and first healthy states, against the command's start and exit and
    the supervisor's own start (`supervisor.started_at` in its state file)."""
    with open(log, "rb") as handle:
        handle.seek(offset)
        lines = handle.read().decode(errors="replace").splitlines()
    spawns, healthy = [], []
    for line in lines:
        at = _stamp(line)
        if at is None:
            continue
        if line.endswith(": started"):
            spawns.append(at)
        elif " healthy " in line[23:]:
            healthy.append(at)
    if not spawns or not healthy:
        raise BenchError(f"no spawns or healthy states in {log} for this round")
    first, last, ready = min(spawns), max(spawns), max(healthy)
    return {
        "to_supervisor": supervisor_started - began,
        "to_first_spawn": first - supervisor_started,
        "spawning": last - first,
        "to_healthy": ready - last,
        "to_exit": began + elapsed - ready,
    }


def leapfrog_round(
    ws: Workspace, stack: Path, count: int
) -> tuple[float, float, list[str], dict[str, float]]:
    """One timed `up -d`: (seconds, supervisor VmRSS MiB, problems found at `down`, where
    the seconds went)."""
    log = stack.parent / ".leapfrog" / "logs" / "supervisor.log"
    try:
        offset = log.stat().st_size if log.exists() else 0
        began = time.time()
        elapsed, _, instances = checked_up(ws.run_cli, stack, count, UP_TIMEOUT, CLI_TIMEOUT)
        split = split_of_up(log, offset, began, elapsed, ws.supervisor_started(stack))
        silent = [i["name"] for i in instances if not http_ok(i["address"], i["port"])]
        if silent:
            raise BenchError(f"reported healthy but GET /health fails: {', '.join(silent)}")
        _, rss, _ = ws.supervisor_memory(stack)
    finally:
        problems = ws.down(stack)
    return elapsed, rss, problems, split


def _spawn_direct(
    ws: Workspace, index: int, user: pwd.struct_passwd | None
) -> subprocess.Popen[bytes]:
    host = f"{BASELINE_PREFIX}{index + 2}"
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOST": host,
        "PORT": str(PORT),
        "LEAPFROG_BENCH": ws.marker,
    }
    extra: dict[str, Any] = {}
    if user is not None:
        extra = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    return subprocess.Popen(
        [SERVICE_PYTHON, str(ws.app)],
        cwd=ws.root,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
        **extra,
    )


def _stop_direct(procs: Sequence[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
    end = time.monotonic() + STOP_GRACE
    for proc in procs:
        try:
            proc.wait(timeout=max(0.0, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=STOP_GRACE)


def baseline_round(ws: Workspace, count: int, user: pwd.struct_passwd | None) -> float:
    """Start `count` services directly, poll each every 10 ms; seconds until all answered."""
    hosts = [f"{BASELINE_PREFIX}{i + 2}" for i in range(count)]
    busy = [h for h in hosts if not address_is_free(h, PORT)]
    if busy:
        raise BenchError(f"baseline addresses in use: {', '.join(f'{h}:{PORT}' for h in busy)}")
    answered: list[float | None] = [None] * count
    stop = threading.Event()
    procs: list[subprocess.Popen[bytes]] = []

    def poll(index: int, deadline: float) -> None:
        while not stop.is_set() and time.perf_counter() < deadline:
            if http_ok(hosts[index], PORT):
                answered[index] = time.perf_counter()
                return
            stop.wait(POLL_EVERY)

    try:
        started = time.perf_counter()
        deadline = started + HEALTH_DEADLINE
        procs.extend(_spawn_direct(ws, i, user) for i in range(count))
        threads = [
            threading.Thread(target=poll, args=(i, deadline), daemon=True) for i in range(count)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=max(0.0, deadline + 2 * HTTP_TIMEOUT - time.perf_counter()))
        times = [t for t in answered if t is not None]
        if len(times) != count:
            missing = [hosts[i] for i, t in enumerate(answered) if t is None]
            exited = [str(p.returncode) for p in procs if p.poll() is not None]
            raise BenchError(
                f"baseline: no 200 within {HEALTH_DEADLINE:g}s from {', '.join(missing)}"
                + (f" (exit statuses: {', '.join(exited)})" if exited else "")
            )
        return max(times) - started
    finally:
        stop.set()
        with no_interrupt():
            _stop_direct(procs)


def memory_round(ws: Workspace, units: int) -> dict[str, Any]:
    stack = ws.sleep_stack(units, MEMORY_NETWORKS.get(units, "127.81.0.0/24"))
    try:
        try:
            code, elapsed, text = ws.run_cli(stack, "up", "-d", timeout=UP_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise BenchError(
                f"`leapfrog up -d` ({units} units) took over {UP_TIMEOUT:g}s"
            ) from None
        if code != 0:
            raise BenchError(f"`leapfrog up -d` ({units} units) exited {code}:\n{tail(text)}")
        time.sleep(SETTLE)
        pid, rss, peak = ws.supervisor_memory(stack)
    finally:
        problems = ws.down(stack)
    return {
        "units": units,
        "supervisor_pid": pid,
        "up_s": elapsed,
        "rss_mb": rss,
        "peak_mb": peak,
        "target_mb": RSS_TARGET_MB,
        "met": rss <= RSS_TARGET_MB,
        "problems": problems,
    }


# -- running and reporting ------------------------------------------------------------------


def _summary(runs: list[float]) -> dict[str, Any]:
    return {
        "runs_s": runs,
        "median_s": statistics.median(runs),
        "min_s": min(runs),
        "max_s": max(runs),
    }


def app_user() -> pwd.struct_passwd | None:
    """The user the baseline runs as: leapfrog's app user when root, else ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(APP_USER)
    except KeyError:
        raise BenchError(
            f"there is no user {APP_USER!r} yet; run with --warmup 1 (leapfrog creates it)"
        ) from None


def cli_start(ws: Workspace, stack: Path) -> float:
    """Seconds for `leapfrog --version`: the interpreter and the CLI's imports, no work."""
    code, elapsed, text = ws.run_cli(stack, "--version", timeout=CLI_TIMEOUT)
    if code != 0:
        raise BenchError(f"`leapfrog --version` exited {code}:\n{tail(text)}")
    return elapsed


def cli_validate(ws: Workspace, stack: Path) -> float:
    """Seconds for `leapfrog validate`: CLI start plus reading and checking the stack file."""
    code, elapsed, text = ws.run_cli(stack, "validate", timeout=CLI_TIMEOUT)
    if code != 0:
        raise BenchError(f"`leapfrog validate` exited {code}:\n{tail(text)}")
    return elapsed


def run(args: argparse.Namespace, ws: Workspace, say: Callable[[str], None]) -> dict[str, Any]:
    count, rounds = args.services, args.rounds
    stack = ws.http_stack(count)
    problems: list[str] = []
    base_runs: list[float] = []
    lf_runs: list[float] = []
    lf_rss: list[float] = []
    start_runs: list[float] = []
    load_runs: list[float] = []
    splits: list[dict[str, float]] = []

    for i in range(args.warmup):
        say(f"warm-up {i + 1}/{args.warmup}: leapfrog, then baseline (not counted)")
        _, _, found, _ = leapfrog_round(ws, stack, count)
        problems += found
        baseline_round(ws, count, app_user())
    user = app_user()
    for i in range(rounds):
        base = baseline_round(ws, count, user)
        base_runs.append(base)
        say(f"round {i + 1}/{rounds}: baseline {base:.3f}s")
        elapsed, rss, found, split = leapfrog_round(ws, stack, count)
        lf_runs.append(elapsed)
        lf_rss.append(rss)
        splits.append(split)
        problems += found
        start_runs.append(cli_start(ws, stack))
        load_runs.append(cli_validate(ws, stack))
        say(
            f"round {i + 1}/{rounds}: leapfrog {elapsed:.3f}s (supervisor {rss:.1f} MiB; "
            f"`leapfrog --version` {start_runs[-1]:.3f}s)"
        )

    memory = []
    for units in args.memory_units:
        say(f"memory: supervisor with {units} units of /bin/sleep")
        result = memory_round(ws, units)
        problems += result["problems"]
        memory.append(result)

    baseline, lf = _summary(base_runs), _summary(lf_runs)
    ratio = lf["median_s"] / baseline["median_s"]
    return {
        "services": count,
        "rounds": rounds,
        "warmup": args.warmup,
        "up": {
            "baseline": baseline,
            "leapfrog": lf,
            "ratio_median": ratio,
            "ratio_min": lf["min_s"] / baseline["min_s"],
            "target_ratio": RATIO_TARGET,
            "met": ratio <= RATIO_TARGET,
            "cli_start": _summary(start_runs),
            "cli_validate": _summary(load_runs),
            "split": {key: _summary([s[key] for s in splits]) for key, _ in PHASES},
            "supervisor_rss_mb": lf_rss,
        },
        "memory": memory,
        "problems": problems,
        "environment": {
            "python": platform.python_version(),
            "service_python": SERVICE_PYTHON,
            "cpus": os.cpu_count(),
            "cli": str(ws.cli),
            "run_as": APP_USER if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name,
            "start_interval": ws.start_interval or "default",
            "pycache": ws.pycache,
        },
    }


def _verdict(met: bool) -> str:
    return "[green]✓ met[/]" if met else "[red]✗ missed[/]"


def render(result: dict[str, Any], console: Console) -> None:
    up = result["up"]
    table = Table(
        title=f"up of {result['services']} trivial HTTP services, "
        f"{result['rounds']} alternating rounds",
        title_justify="left",
    )
    table.add_column("")
    table.add_column("median", justify="right")
    table.add_column("min", justify="right")
    table.add_column("max", justify="right")
    table.add_column("rounds (ms)")
    rows = (
        ("baseline: Popen + poll 10 ms", up["baseline"], ""),
        ("leapfrog up -d", up["leapfrog"], "bold"),
        *((f"  {label}", up["split"][key], "") for key, label in PHASES),
        ("  alone: --version", up["cli_start"], "dim"),
        ("  alone: validate", up["cli_validate"], "dim"),
    )
    for label, row, style in rows:
        table.add_row(
            label,
            f"{row['median_s'] * 1000:.0f} ms",
            f"{row['min_s'] * 1000:.0f} ms",
            f"{row['max_s'] * 1000:.0f} ms",
            " ".join(f"{t * 1000:.0f}" for t in row["runs_s"]),
            style=style,
        )
    console.print(table)
    console.print(PHASES_LEGEND, style="dim")
    console.print(
        f"leapfrog / baseline, median: [bold]{up['ratio_median']:.2f}×[/] "
        f"(target ≤ {up['target_ratio']:g}×) {_verdict(up['met'])}; "
        f"by min: {up['ratio_min']:.2f}×"
    )
    console.print()

    mem = Table(title="supervisor resident memory (VmRSS, MiB)", title_justify="left")
    mem.add_column("units", justify="right")
    mem.add_column("services")
    mem.add_column("VmRSS", justify="right")
    mem.add_column("peak", justify="right")
    mem.add_column("target", justify="right")
    mem.add_column("")
    for row in result["memory"]:
        mem.add_row(
            str(row["units"]),
            "/bin/sleep 3600",
            f"{row['rss_mb']:.1f}",
            f"{row['peak_mb']:.1f}",
            f"≤ {row['target_mb']:g}",
            _verdict(row["met"]),
        )
    if up["supervisor_rss_mb"]:
        mem.add_row(
            str(result["services"]),
            "HTTP + check",
            f"{statistics.median(up['supervisor_rss_mb']):.1f}",
            "",
            "",
            "[dim]median of the up rounds[/]",
        )
    console.print(mem)
    for problem in result["problems"]:
        console.print(f"[yellow]problem:[/] {problem}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--services", type=int, default=20, help="services to start (20)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds of each (3)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds of each first (1)")
    parser.add_argument(
        "--memory-units",
        type=int,
        nargs="*",
        default=[20, 50],
        metavar="N",
        help="stack sizes whose supervisor memory is measured (20 50; none to skip)",
    )
    parser.add_argument(
        "--start-interval",
        default=None,
        metavar="DURATION",
        help="set check.start_interval on the services (default: leapfrog's own default)",
    )
    parser.add_argument(
        "--pycache",
        choices=("warm", "inherit"),
        default="warm",
        help="warm: leapfrog runs with a bytecode cache of its own in the temp dir, filled by "
        "the warm-up (default); inherit: as the environment says (PYTHONDONTWRITEBYTECODE=1 "
        "makes every run compile leapfrog and its dependencies from source)",
    )
    parser.add_argument("--cli", type=Path, default=DEFAULT_CLI, help="the leapfrog command")
    parser.add_argument("--json", action="store_true", help="print a JSON summary, no table")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, state)")
    args = parser.parse_args(argv)
    if not 1 <= args.services <= 250:
        parser.error("--services must be between 1 and 250")
    if args.rounds < 1 or args.warmup < 0:
        parser.error("--rounds must be at least 1, --warmup at least 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.cli.exists():
        err.print(f"[red]error:[/] {args.cli} not found (run `make bootstrap`, or pass --cli)")
        return 2
    if not Path(SERVICE_PYTHON).exists():
        err.print(f"[red]error:[/] {SERVICE_PYTHON} not found; the services run with it")
        return 2
    ws = Workspace.create(args.cli.resolve(), args.start_interval, args.pycache)

    def say(text: str) -> None:
        err.print(f"[dim]{text}[/]")

    if args.keep:
        say(f"workspace: {ws.root}")
    code = 0
    result: dict[str, Any] | None = None
    try:
        result = run(args, ws, say)
    except BenchError as exc:
        err.print(f"[red]error:[/] {exc}")
        code = 1
    except KeyboardInterrupt:
        err.print("interrupted; cleaning up")
        code = 130
    finally:
        leftovers = ws.cleanup(keep=args.keep)
        for problem in leftovers:
            err.print(f"[yellow]problem:[/] {problem}")
    if result is not None:
        result["problems"] += leftovers
        if result["problems"] and code == 0:
            code = 1  # measured, but something was left running or failed to stop
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            render(result, Console(highlight=False))
    return code


if __name__ == "__main__":
    sys.exit(main())
