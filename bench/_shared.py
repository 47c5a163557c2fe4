"""What every benchmark does the same way: time a `leapfrog` command, check an `up -d`,
report a failed round, and finish cleaning up whatever Ctrl-C says."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar, cast

from leapfrog.backup import DirectoryStorage, Engine, RunRecord, Store, driver_for
from leapfrog.backup.manifest import Manifest
from leapfrog.testing import RunningComponent

_T = TypeVar("_T")

TARGET = 0.9
"""Backups: leapfrog's speed / the native tool's, at least."""

__all__ = [
    "TARGET",
    "BenchError",
    "RunCli",
    "backup_args",
    "backup_rounds",
    "bench_env",
    "checked_up",
    "cli_ok",
    "compared",
    "emit",
    "engine_for",
    "loadavg",
    "no_interrupt",
    "progress",
    "restarted",
    "restore_rounds",
    "run_bench",
    "succeeded",
    "tail",
    "timed",
    "timed_cli",
    "verify_seconds",
]

RunCli = Callable[..., tuple[int, float, str]]
"""run_cli(stack, *args, timeout=...) -> (exit status, seconds, output)"""


class BenchError(Exception):
    """A round could not be measured: the message says what went wrong."""


def tail(text: str, lines: int = 15) -> str:
    return "\n".join("  | " + line for line in text.rstrip().splitlines()[-lines:])


@contextlib.contextmanager
def no_interrupt() -> Iterator[None]:
    """Let cleanup finish even if Ctrl-C is pressed again (only in the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def bench_env(marker: str, pycache: str, root: Path, **extra: str) -> dict[str, str]:
    """The environment of a measured command: marked (so leftovers can be found), and
    with a bytecode cache of its own when `pycache` is "warm"."""
    env = {**os.environ, "LEAPFROG_BENCH": marker, **extra}
    env.pop("LEAPFROG_FILE", None)
    if pycache == "warm":
        # Compiled modules are kept here, not next to the sources; the warm-up round
        # fills the cache, as any earlier run of leapfrog would on a user's machine.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(root / "pycache")
    return env


def timed_cli(
    cli: Path, stack: Path, args: tuple[str, ...], timeout: float, env: dict[str, str]
) -> tuple[int, float, str]:
    """Run `leapfrog -f STACK ARGS...`: (exit status, seconds from spawn to exit, output).

    Output goes to a file, not a pipe, so the time is the command's own and never waits
    on a pipe some child might keep open.
    """
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [str(cli), "-f", str(stack), *args],
            cwd=stack.parent,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            code = proc.wait(timeout=timeout)
        except BaseException:
            proc.kill()
            proc.wait(timeout=5)
            raise
        elapsed = time.perf_counter() - started
        out.seek(0)
        text = out.read().decode(errors="replace")
    return code, elapsed, text


def cli_ok(run_cli: RunCli, stack: Path, *args: str, timeout: float) -> str:
    """A quick command that must succeed; its output."""
    try:
        code, _, text = run_cli(stack, *args, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchError(f"`leapfrog {' '.join(args)}` took over {timeout:g}s") from None
    if code != 0:
        raise BenchError(f"`leapfrog {' '.join(args)}` exited {code}:\n{tail(text)}")
    return text


def checked_up(
    run_cli: RunCli, stack: Path, count: int, timeout: float, status_timeout: float
) -> tuple[float, str, list[dict[str, Any]]]:
    """One timed `up -d`, then `status` must agree that all `count` instances are healthy:
    (seconds, output of `up`, the instances)."""
    try:
        code, elapsed, text = run_cli(stack, "up", "-d", timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchError(f"`leapfrog up -d` took over {timeout:g}s") from None
    if code != 0:
        raise BenchError(f"`leapfrog up -d` exited {code}:\n{tail(text)}")
    instances = json.loads(cli_ok(run_cli, stack, "status", "--json", timeout=status_timeout))
    unhealthy = [i["name"] for i in instances if i.get("state") != "healthy"]
    if len(instances) != count or unhealthy:
        raise BenchError(
            f"`up -d` returned but {len(instances)} instance(s) are known "
            f"and these are not healthy: {', '.join(unhealthy) or 'none'}"
        )
    return elapsed, text, instances


# -- backup benchmarks (backup_*.py) ---------------------------------------------------


BACKUP_EPILOG = """Progress goes to stderr, results to stdout; exit 0 when everything was
measured (whether or not the 0.9x target was met), 1 when a run failed, 130 on Ctrl-C.
See bench/README.md ("Backups")."""


def backup_args(doc: str, size_mb: int, rounds: int = 2) -> argparse.ArgumentParser:
    """The options every backup benchmark takes (each adds its own)."""
    parser = argparse.ArgumentParser(
        description=doc,
        epilog=BACKUP_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--size-mb", type=int, default=size_mb, help="data to back up")
    parser.add_argument("--rounds", type=int, default=rounds, help="timed rounds of each side")
    parser.add_argument("--no-compress", action="store_true", help="store objects as they are")
    parser.add_argument("--json", action="store_true", help="JSON on stdout instead of lines")
    return parser


def engine_for(running: RunningComponent, root: Path) -> Engine:
    """leapfrog's backup engine for a component the benchmark runs, storing under `root`."""
    kind = running.component.kind
    store = Store(kind, running.component, running.options, running.where, running.installation)
    return Engine(store, driver_for(kind), DirectoryStorage(root), root)


def succeeded(record: RunRecord) -> RunRecord:
    if record.state != "succeeded":
        raise BenchError(f"leapfrog's {record.action} failed: {record.reason}")
    return record


def timed(work: Callable[[], _T]) -> tuple[float, _T]:
    started = time.monotonic()
    result = work()
    return time.monotonic() - started, result


def restarted(running: RunningComponent, between: Callable[[], object]) -> float:
    """Stop the component, run `between` (wipe, restore), start it until healthy: the
    seconds of `between` and the start (what a restore costs until the store serves)."""
    running.stop()
    started = time.monotonic()
    between()
    running.start()
    return time.monotonic() - started


def side(name: str, seconds: list[float], mb: float | None = None) -> dict[str, Any]:
    """One side of a comparison: median seconds (and MB/s when `mb` is given)."""
    median = statistics.median(seconds)
    found: dict[str, Any] = {"side": name, "median_s": round(median, 3), "rounds_s": seconds}
    if mb is not None:
        found["mb_s"] = round(mb / median, 1)
    return found


def compared(
    ours: list[float], theirs: list[float], native: str, mb: float | None = None
) -> dict[str, Any]:
    """leapfrog against the native tool on the same work: speed ratio = native time /
    leapfrog time (1.0 = as fast; the target is >= TARGET)."""
    ratio = statistics.median(theirs) / statistics.median(ours)
    return {
        "leapfrog": side("leapfrog", [round(s, 3) for s in ours], mb),
        "native": side(native, [round(s, 3) for s in theirs], mb),
        "ratio": round(ratio, 2),
        "target_met": ratio >= TARGET,
    }


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages: how busy the shared machine was."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def emit(result: dict[str, Any], as_json: bool) -> None:
    """The result on stdout: JSON, or one line per figure."""
    if as_json:
        print(json.dumps(result))
        return

    def lines(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                lines(f"{prefix}.{key}" if prefix else key, item)
        else:
            print(f"{prefix:>32}: {value}")

    lines("", result)


def run_bench(body: Callable[[], int]) -> int:
    """Exit status of a benchmark: 0 measured, 1 a round failed, 130 on Ctrl-C."""
    try:
        return body()
    except BenchError as exc:
        print(f"failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def cpu_seconds() -> float:
    """CPU seconds (user and system) of this process and its children that ended: what a
    side costs the machine beyond the store's own process, steadier than its wall time
    on a shared machine."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def backup_rounds(
    engine: Engine,
    rounds: int,
    compress: bool,
    native: Callable[[], _T],
    cpu: dict[str, list[float]] | None = None,
) -> tuple[list[float], list[float], Manifest, _T]:
    """Alternate the native backup and leapfrog's, `rounds` times (only the newest
    backup is kept): (leapfrog's seconds, the native's, leapfrog's last manifest, what
    the last native run returned). `cpu`, when given, gets each round's `cpu_seconds`
    under "leapfrog" and "native"."""
    ours: list[float] = []
    theirs: list[float] = []
    manifest: Manifest | None = None
    made: Any = None
    spent: dict[str, list[float]] = cpu if cpu is not None else {}
    for n in range(rounds):
        progress(f"backup round {n + 1}/{rounds}")
        before = cpu_seconds()
        took, made = timed(native)
        theirs.append(took)
        between = cpu_seconds()
        took, record = timed(lambda: engine.run_backup(compress=compress))
        ours.append(took)
        spent.setdefault("native", []).append(round(between - before, 3))
        spent.setdefault("leapfrog", []).append(round(cpu_seconds() - between, 3))
        manifest = engine.find(succeeded(record).backup)
        engine.prune(1)
    assert manifest is not None, "at least one round"
    return ours, theirs, manifest, cast(_T, made)


def verify_seconds(engine: Engine) -> float:
    """One verify of the newest backup, which must succeed: its seconds."""
    progress("verify")
    took, record = timed(engine.verify)
    succeeded(record)
    return took


def restore_rounds(
    rounds: int, native: Callable[[], object], ours: Callable[[], object]
) -> tuple[list[float], list[float]]:
    """Alternate the native restore and leapfrog's: (leapfrog's seconds, the native's)."""
    mine: list[float] = []
    theirs: list[float] = []
    for n in range(rounds):
        progress(f"restore round {n + 1}/{rounds}")
        theirs.append(timed(native)[0])
        mine.append(timed(ours)[0])
    return mine, theirs
