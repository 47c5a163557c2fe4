"""The baseline of bench/components_up.py: each component started by hand, no leapfrog.

"By hand" means what a careful person would do with the same configuration: take the
component's own `process()` (argv, environment, files, init commands: Kafka's storage
format, PostgreSQL's initdb), write the files, run the init commands and start the
program directly with subprocess as the same user leapfrog uses, then poll readiness
with the program's own tool or client until it answers:

- Kafka: one librdkafka AdminClient (confluent_kafka) reconnecting every 10-100 ms,
  `list_topics` until the metadata names a broker;
- ZooKeeper: `ruok` answered `imok`, then `srvr` reports a Mode (serving);
- PostgreSQL: Debian's `pg_isready` on the instance's address;
- OpenSearch: `GET /_cluster/health` (urllib) answering status green or yellow;
- InfluxDB: `GET /ping` answering 204.

Nothing else: no state, no supervisor, no setup step (its cost is timed separately).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leapfrog.components import component
from leapfrog.components.base import Installation, Instance, Process
from leapfrog.shared.cache import cache_dir
from leapfrog.shared.procs import kill_group

__all__ = ["HandRun", "hand_round"]

POLL_EVERY = 0.02
READY_DEADLINE = 180.0  # leapfrog gives components the same start timeout
INIT_TIMEOUT = 120.0
STOP_CAP = 30.0  # grace period cap before SIGKILL, as leapfrog's components ask
FOUR_LETTER_TIMEOUT = 0.25


@dataclass
class HandRun:
    """One component started by hand; times are seconds from the round's common start."""

    kind: str
    options: Any
    where: Instance
    process: Process
    bin_dir: str | None
    popen: subprocess.Popen[bytes] | None = None
    init_done: float | None = None
    spawned: float | None = None
    ready: float | None = None
    setup_s: float | None = None
    error: str | None = None

    @property
    def log_path(self) -> Path:
        return self.where.data_dir.parent / f"{self.where.instance}.log"


def plan_run(
    kind: str,
    installation: Installation,
    base_dir: Path,
    address: str,
    run_as: tuple[int, int] | None,
) -> HandRun:
    """The component's own process for an instance in `base_dir`, as leapfrog would ask."""
    comp = component(kind)
    options = comp.options({})
    where = Instance(
        name=kind,
        instance=f"{kind}-1",
        address=address,
        port=comp.port(options),
        data_dir=base_dir / "data" / f"{kind}-1",
        secrets_dir=base_dir / "secrets",
        cache_dir=cache_dir(),
        run_as=run_as,
    )
    process = comp.process(options, installation, where)
    return HandRun(kind, options, where, process, installation.extra.get("bin"))


def _user_args(run: HandRun) -> dict[str, Any]:
    if run.where.run_as is None:
        return {}
    uid, gid = run.where.run_as
    return {"user": uid, "group": gid, "extra_groups": []}


def _env(run: HandRun, marker: str) -> dict[str, str]:
    base = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(run.where.data_dir)}
    return {**base, **run.process.env, "LEAPFROG_BENCH": marker}


def _prepare(run: HandRun) -> None:
    data = run.where.data_dir
    data.mkdir(parents=True, exist_ok=True)
    run.where.secrets_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    written = [data]
    for rel, content in run.process.files.items():
        path = data / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        written += [path.parent, path]
    if run.where.run_as is not None:
        for path in written:
            os.chown(path, *run.where.run_as)


def _start(run: HandRun, marker: str, started: float) -> None:
    """Files, init commands, then the program; into the instance's log like leapfrog."""
    _prepare(run)
    env, user = _env(run, marker), _user_args(run)
    with open(run.log_path, "ab") as log:
        for argv in run.process.init:
            result = subprocess.run(
                argv,
                cwd=run.where.data_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=INIT_TIMEOUT,
                check=False,
                **user,
            )
            if result.returncode != 0:
                raise RuntimeError(f"init {argv[0]} exited {result.returncode}; see {run.log_path}")
        run.init_done = time.perf_counter() - started
        run.popen = subprocess.Popen(
            run.process.argv,
            cwd=run.where.data_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **user,
        )
    run.spawned = time.perf_counter() - started


# -- readiness, with each program's own tool ---------------------------------------------


def _kafka_ready(run: HandRun) -> Callable[[], bool]:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient(
        {
            "bootstrap.servers": f"{run.where.address}:{run.where.port}",
            "reconnect.backoff.ms": 10,
            "reconnect.backoff.max.ms": 100,
            "socket.connection.setup.timeout.ms": 1000,
            "log_level": 0,
        }
    )

    def ready() -> bool:
        try:
            return bool(admin.list_topics(timeout=0.5).brokers)
        except Exception:  # KafkaException while the broker starts: not ready yet
            return False

    return ready


def _four_letter_word(host: str, port: int, word: str) -> str:
    # A short timeout: ZooKeeper accepts connections a moment before it reads them, and
    # an attempt stuck in that moment must not hold the poll for long.
    with socket.create_connection((host, port), timeout=FOUR_LETTER_TIMEOUT) as sock:
        sock.sendall(word.encode())
        chunks = []
        while chunk := sock.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def _zookeeper_ready(run: HandRun) -> Callable[[], bool]:
    host, port = run.where.address, run.where.port

    def ready() -> bool:
        try:
            if _four_letter_word(host, port, "ruok").strip() != "imok":
                return False
            return "Mode:" in _four_letter_word(host, port, "srvr")
        except OSError:
            return False

    return ready


def _postgres_ready(run: HandRun) -> Callable[[], bool]:
    assert run.bin_dir is not None
    argv = [str(Path(run.bin_dir) / "pg_isready"), "-q", "-t", "1"]
    argv += ["-h", run.where.address, "-p", str(run.where.port)]

    def ready() -> bool:
        return subprocess.run(argv, stdin=subprocess.DEVNULL, check=False).returncode == 0

    return ready


def _http_ready(
    run: HandRun, path: str, accept: Callable[[int, bytes], bool]
) -> Callable[[], bool]:
    url = f"http://{run.where.address}:{run.where.port}{path}"

    def ready() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                return accept(answer.status, answer.read())
        except (OSError, ValueError):  # refused, reset, HTTP errors while it starts
            return False

    return ready


def _opensearch_ready(run: HandRun) -> Callable[[], bool]:
    def green_or_yellow(status: int, body: bytes) -> bool:
        return status == 200 and json.loads(body).get("status") in ("green", "yellow")

    return _http_ready(run, "/_cluster/health", green_or_yellow)


def _influxdb_ready(run: HandRun) -> Callable[[], bool]:
    return _http_ready(run, "/ping", lambda status, _body: status == 204)


_READINESS = {
    "kafka": _kafka_ready,
    "zookeeper": _zookeeper_ready,
    "postgres": _postgres_ready,
    "opensearch": _opensearch_ready,
    "influxdb": _influxdb_ready,
}


def _wait_ready(run: HandRun, started: float, stop: threading.Event) -> None:
    assert run.popen is not None
    ready = _READINESS[run.kind](run)
    deadline = started + READY_DEADLINE
    while time.perf_counter() < deadline and not stop.is_set():
        if run.popen.poll() is not None:
            raise RuntimeError(f"exited {run.popen.returncode}; see {run.log_path}")
        if ready():
            run.ready = time.perf_counter() - started
            return
        stop.wait(POLL_EVERY)
    raise RuntimeError(f"not ready within {READY_DEADLINE:g}s; see {run.log_path}")


def _time_setup(run: HandRun) -> None:
    """The contract's setup step, after readiness and outside the timed window."""
    comp = component(run.kind)
    began = time.perf_counter()
    try:
        asyncio.run(comp.setup(run.options, run.where))
    except Exception as exc:  # LeapfrogError or a client's error: say which component
        raise RuntimeError(f"{run.kind} setup after a by-hand start: {exc}") from None
    run.setup_s = time.perf_counter() - began


def _drive(run: HandRun, marker: str, started: float, stop: threading.Event) -> None:
    try:
        _start(run, marker, started)
        _wait_ready(run, started, stop)
    except Exception as exc:  # reported per component by the caller
        run.error = f"{run.kind} by hand: {exc}"


def stop_runs(runs: Sequence[HandRun]) -> None:
    """Each program's own stop signal to its group, SIGKILL after its grace period."""
    for run in runs:
        if run.popen is not None and run.popen.poll() is None:
            kill_group(run.popen.pid, signal.Signals[run.process.stop_signal])
    for run in runs:
        if run.popen is None:
            continue
        try:
            run.popen.wait(timeout=min(run.process.stop_grace_period, STOP_CAP))
        except subprocess.TimeoutExpired:
            kill_group(run.popen.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                run.popen.wait(timeout=5)
        kill_group(run.popen.pid, signal.SIGKILL)  # whatever the leader left in its group


def hand_round(runs: Sequence[HandRun], marker: str) -> float:
    """Start every run at once (one thread each); seconds until the last one was ready.

    Raises RuntimeError naming what failed; the programs are stopped either way.
    """
    stop = threading.Event()
    threads = []
    try:
        started = time.perf_counter()
        for run in runs:
            thread = threading.Thread(target=_drive, args=(run, marker, started, stop))
            thread.start()
            threads.append(thread)
        for thread in threads:
            thread.join(timeout=READY_DEADLINE + INIT_TIMEOUT + 30)
        errors = [run.error for run in runs if run.error]
        if errors or any(thread.is_alive() for thread in threads):
            raise RuntimeError("; ".join(errors) or "a by-hand start did not finish in time")
        total = max(run.ready for run in runs if run.ready is not None)
        for run in runs:  # after the timed window, so it does not slow the others
            _time_setup(run)
        return total
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        stop_runs(runs)
