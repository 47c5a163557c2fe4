"""Benchmark: the `flink` component and its `service-stats` job.

1. Throughput: N load balancer access events (already in Kafka, two partitions) through
   the stats job at parallelism 2, end to end (from the job's RUNNING until its last
   window row is written to Kafka), against a plain Python consumer (confluent_kafka,
   one process) computing the same aggregates on the same events and writing the same
   rows, in the same run. Both sides' rows are compared: they must be the same numbers.
   Target: >= 3x the Python consumer.
2. Window latency: events in real time (~300/s); for each window, from its end plus the
   allowed lateness to its row, both as written (the Kafka record's timestamp) and as a
   `read_committed` reader sees it (exactly-once: at the checkpoint after the window
   closes). p50/p99; target p99 <= 2 s beyond the allowed lateness.
3. Cold start: `leapfrog up -d` of a stack with one Flink cluster (1 TaskManager, no
   job) until it is healthy, against starting the same `jobmanager.sh`/`taskmanager.sh`
   with the same configuration by hand and polling `/overview` until the TaskManager's
   slots are registered. Target <= 1.2x.

Servers use 127.0.0.91, .92 and .94 and the stack 127.95.0.0/24, which no test uses. Run
under the shared lock:
`flock /tmp/lf-itest.lock .venv/bin/python bench/flink.py [--events N] [--json]`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import yaml
from confluent_kafka import Consumer, Producer

from _flink_python import PythonStats
from leapfrog.components import component
from leapfrog.components._flink_config import (
    FlinkOptions,
    cluster_config,
    config_yaml,
    log4j_console_properties,
)
from leapfrog.lb._accesslog import haproxy_access_json
from leapfrog.shared.cache import cache_dir
from leapfrog.shared.procs import kill_group
from leapfrog.shared.users import ensure_user
from leapfrog.testing import RunningComponent, run_component

HERE = Path(__file__).resolve().parent
CLI = HERE.parent / ".venv" / "bin" / "leapfrog"
KAFKA_ADDRESS = "127.0.0.91"
FLINK_ADDRESS = "127.0.0.92"
UP_NETWORK = "127.95.0.0/24"  # `local.addresses` wants a /24; no test uses it
HAND_ADDRESS = "127.0.0.94"
WINDOW, LATENESS = 10, 5
SERVICES = [f"svc-{i}" for i in range(5)]
ROUTES = ["/a", "/b", "/c", "/d"]
TARGET_THROUGHPUT, TARGET_LATENCY, TARGET_START = 3.0, 2.0, 1.2


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def access_event(ts: float, i: int) -> bytes:
    """An access event as the load balancer ships it (`lb/_accesslog`)."""
    service, route = SERVICES[i % len(SERVICES)], ROUTES[(i // 5) % len(ROUTES)]
    status = 503 if i % 13 == 0 else 200
    fields = (status, 100 + i % 900, 1 + i % 250, "be", service, f"{service}-1", 0, "----")
    raw = "lf1|10.0.0.1|" + "|".join(map(str, fields)) + f"|GET|{route}?i={i}"
    tail = haproxy_access_json(raw)
    assert tail is not None
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(ts)))
    micros = round((ts - int(ts)) * 1e6) % 1_000_000
    head = f'{{"ts":"{stamp}.{micros:06d}Z","logger":"lb.access","service":"lb","instance":"lb-1"'
    return (head + tail).encode()


# -- 1. throughput ----------------------------------------------------------------------


def preload(
    bootstrap: str, topic: str, events: int, first: float
) -> tuple[int, dict[tuple[str, str, str], int]]:
    """`events` events over event time from `first`, both partitions alike, then one on
    each partition far enough after them to close every window; how many records, and the
    true request count of each (service, route, window start).

    The producer is idempotent: without it, a batch retried (the topic's leader not yet
    known right after its creation) can land after later ones, and its events, minutes
    older than the partition's newest, are then late for both sides."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 20,
            "batch.size": 1 << 20,
            "enable.idempotence": True,
        }
    )
    span = max(60.0, events / 500)  # ~500 requests a second of event time
    truth: dict[tuple[str, str, str], int] = {}
    for i in range(events):
        ts = first + span * i / events
        event = access_event(ts, i)
        while True:
            try:
                producer.produce(topic, event, partition=i % 2)
                break
            except BufferError:  # the local queue is full (or the producer id not yet had)
                producer.poll(0.1)
        start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(ts) // WINDOW * WINDOW))
        key = (SERVICES[i % len(SERVICES)], ROUTES[(i // 5) % len(ROUTES)], start)
        truth[key] = truth.get(key, 0) + 1
        if i % 10_000 == 0:
            producer.poll(0)
    closing = first + span + WINDOW + LATENESS + 1
    for partition in (0, 1):
        producer.produce(topic, access_event(closing, 0), partition=partition)
    if producer.flush(120) != 0:
        raise RuntimeError("the preload was not acknowledged")
    return events + 2, truth


def read_rows(
    bootstrap: str, topic: str, wanted: int, timeout: float
) -> list[tuple[dict[str, Any], float, float]]:
    """Rows of `topic` (read_committed): (row, written at, seen at), until `wanted` rows."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe([topic])
    rows: list[tuple[dict[str, Any], float, float]] = []
    deadline = time.monotonic() + timeout
    try:
        while len(rows) < wanted and time.monotonic() < deadline:
            for message in consumer.consume(500, 0.2):
                if message.error() is None:
                    written = message.timestamp()[1] / 1000
                    rows.append((json.loads(message.value() or b"{}"), written, time.time()))
    finally:
        consumer.close()
    return rows


def job_running_at(flink: RunningComponent, name: str, timeout: float = 180) -> float:
    """The wall clock time the job switched to RUNNING."""
    url = flink.env()["FLINK_REST_URL"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            for job in httpx.get(f"{url}/jobs/overview", timeout=5).json()["jobs"]:
                if job["name"] == name and job["state"] == "RUNNING":
                    detail = httpx.get(f"{url}/jobs/{job['jid']}", timeout=5).json()
                    return float(detail["timestamps"]["RUNNING"]) / 1000
        time.sleep(0.5)
    raise RuntimeError(f"the job {name} did not run within {timeout:g}s")


_VERTEX_METRICS = "busyTimeMsPerSecond,backPressuredTimeMsPerSecond,numRecordsInPerSecond"


class JobProfile:
    """Where the job's time goes: every 2 s, each vertex's busy and back-pressured
    milliseconds per second (the mean over its subtasks) and records in per second, from
    Flink's REST metrics; and the TaskManagers' garbage collection time over the run."""

    def __init__(self, url: str, name: str) -> None:
        self.url, self.name = url, name
        self.samples: list[tuple[float, str, dict[str, float]]] = []
        self.gc_ms: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> JobProfile:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _get(self, path: str) -> Any:
        return httpx.get(f"{self.url}{path}", timeout=2).json()

    def _run(self) -> None:
        jid, vertices, gc_names = None, [], {}
        while not self._stop.wait(2.0):
            with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
                if jid is None:
                    for job in self._get("/jobs/overview")["jobs"]:
                        if job["name"] == self.name and job["state"] == "RUNNING":
                            jid = job["jid"]
                            vertices = self._get(f"/jobs/{jid}")["vertices"]
                    continue
                now = time.time()
                for vertex in vertices:
                    got = self._get(
                        f"/jobs/{jid}/vertices/{vertex['id']}/subtasks/metrics"
                        f"?get={_VERTEX_METRICS}&agg=avg,sum"
                    )
                    values = {m["id"]: float(m.get("avg", 0.0)) for m in got}
                    values["records_in"] = next(
                        (float(m.get("sum", 0)) for m in got if m["id"].startswith("numRec")), 0
                    )
                    self.samples.append((now, str(vertex["name"]), values))
                gc = 0.0
                for manager in self._get("/taskmanagers")["taskmanagers"]:
                    if manager["id"] not in gc_names:
                        gc_names[manager["id"]] = [
                            m["id"]
                            for m in self._get(f"/taskmanagers/{manager['id']}/metrics")
                            if m["id"].startswith("Status.JVM.GarbageCollector.")
                            and m["id"].endswith(".Time")
                        ]
                    names = gc_names[manager["id"]]
                    if names:
                        got = self._get(
                            f"/taskmanagers/{manager['id']}/metrics?get={','.join(names)}"
                        )
                        gc += sum(float(m["value"]) for m in got)
                self.gc_ms.append((now, gc))

    def summary(self, began: float, ended: float) -> dict[str, Any]:
        """Per vertex, the mean of the samples taken while the job worked on the backlog."""
        by_vertex: dict[str, list[dict[str, float]]] = {}
        for at, name, values in self.samples:
            if began <= at <= ended:
                by_vertex.setdefault(name, []).append(values)
        vertices = {
            name[:60]: {
                "busy_ms_per_s": round(statistics.mean(v["busyTimeMsPerSecond"] for v in got)),
                "backpressured_ms_per_s": round(
                    statistics.mean(v["backPressuredTimeMsPerSecond"] for v in got)
                ),
                "records_in_per_s": round(statistics.mean(v["records_in"] for v in got)),
            }
            for name, got in by_vertex.items()
        }
        gc = [ms for at, ms in self.gc_ms if began <= at <= ended]
        return {
            "vertices": vertices,
            "gc_ms_per_s": round((gc[-1] - gc[0]) / max(ended - began, 1e-9)) if gc else None,
        }


def key_of(row: dict[str, Any]) -> tuple[str, str, str]:
    return (str(row["service"]), str(row["route"]), str(row["window_start"]))


def throughput(
    kafka: RunningComponent,
    base: Path,
    events: int,
    checkpoint: str,
    config: dict[str, str] | None = None,
) -> Any:
    """Preload, the Python consumer, then the cluster and its job on the same events."""
    bootstrap = kafka.env()["KAFKA_BOOTSTRAP_SERVERS"]
    first = (time.time() - 3 * 3600) // WINDOW * WINDOW
    say(f"preloading {events} events into `in` (2 partitions) ...")
    records, truth = preload(bootstrap, "in", events, first)
    say("the plain Python consumer ...")
    python = PythonStats(bootstrap, "in", "python-stats", WINDOW, LATENESS)
    python_seconds = python.run(records, timeout=900)
    windows = len(python.rows)
    say(
        f"  {records / python_seconds:,.0f} events/s ({python_seconds:.1f} s, {windows} rows, "
        f"{python.late} late events dropped)"
    )

    options = {
        "taskmanagers": 1,
        "slots": 2,
        "checkpoint_interval": checkpoint,
        "config": config or {},
        "service_stats": {
            "source_topic": "in",
            "topic": "stats",
            "parallelism": 2,
            "metrics_topic": None,
            "window": f"{WINDOW}s",
            "lateness": f"{LATENESS}s",
        },
    }
    say("the Flink cluster and the stats job (parallelism 2) ...")
    (base / "flink").mkdir(mode=0o755)
    stack = contextlib.ExitStack()
    flink = stack.enter_context(
        run_component("flink", options, base / "flink", address=FLINK_ADDRESS, start=False)
    )
    flink.process = replace(
        flink.process, env={**flink.process.env, "KAFKA_BOOTSTRAP_SERVERS": bootstrap}
    )
    profile = JobProfile(flink.env()["FLINK_REST_URL"], "service-stats")
    try:
        flink.start()
        with profile:
            running = job_running_at(flink, "service-stats")
            rows = read_rows(bootstrap, "stats", windows, timeout=900)
        if len(rows) < windows:
            raise RuntimeError(f"the job wrote {len(rows)} of {windows} rows")
    except BaseException:
        stack.close()
        raise
    last_written = max(written for _, written, _ in rows)
    flink_seconds = last_written - running
    where = profile.summary(min(written for _, written, _ in rows), last_written)
    for name, figures in where["vertices"].items():
        say(f"  {name}: {figures}")
    say(f"  TaskManager GC: {where['gc_ms_per_s']} ms/s")
    by_key = {key_of(row): row for row, _, _ in rows}
    differ = [
        (r, by_key.get(key_of(r)))
        for r in python.rows.values()
        if not _close_enough(by_key.get(key_of(r)), r)
    ]
    same = len(by_key) == windows and not differ
    # Which side is right: each side's request counts against what was produced.
    true_python = sum(truth.get(key_of(r)) == r["requests"] for r in python.rows.values())
    true_flink = sum(truth.get(k) == r["requests"] for k, r in by_key.items())
    say(
        f"  request counts as produced: Python {true_python}/{len(truth)} windows, "
        f"Flink {true_flink}/{len(truth)}"
    )
    for python_row, flink_row in differ[:3]:
        say(f"  differs: Python {python_row}\n           Flink  {flink_row}")
    python_rows = read_rows(bootstrap, "python-stats", windows, timeout=60)
    steady = {"python": steady_rate(python_rows, records), "flink": steady_rate(rows, records)}
    say(
        f"  {records / flink_seconds:,.0f} events/s ({flink_seconds:.1f} s); same rows: {same}; "
        f"steady: Flink {steady['flink']:,.0f}/s, Python {steady['python']:,.0f}/s"
    )
    return (
        stack,
        flink,
        {
            "events": records,
            "windows": windows,
            "python_seconds": round(python_seconds, 2),
            "python_events_per_s": round(records / python_seconds),
            "flink_seconds": round(flink_seconds, 2),
            "flink_events_per_s": round(records / flink_seconds),
            "ratio": round(python_seconds / flink_seconds, 2),
            "steady_python_events_per_s": round(steady["python"]),
            "steady_flink_events_per_s": round(steady["flink"]),
            "steady_ratio": round(steady["flink"] / steady["python"], 2),
            "same_rows": same,
            "python_counts_true": true_python,
            "flink_counts_true": true_flink,
            "python_late_dropped": python.late,
            "rows_differing": len(differ),
            "flink_rows_read": len(rows),
            "flink_distinct_rows": len(by_key),
            "profile": where,
        },
    )


def steady_rate(rows: list[tuple[dict[str, Any], float, float]], events: int) -> float:
    """Events/s between the first and the last window written (startup left out): the
    events are spread evenly over the windows, so a window's rows stand for its share."""
    done: dict[str, float] = {}
    for row, written, _ in rows:
        start = str(row["window_start"])
        done[start] = max(done.get(start, 0.0), written)
    times = sorted(done.values())
    if len(times) < 2 or times[-1] <= times[0]:
        return float("nan")
    return events * (len(times) - 1) / len(times) / (times[-1] - times[0])


def _close_enough(flink: dict[str, Any] | None, python: dict[str, Any]) -> bool:
    if flink is None:
        return False
    for name, value in python.items():
        other = flink.get(name)
        if isinstance(value, float) and isinstance(other, float):
            if abs(value - other) > 1e-9:
                return False
        elif value != other:
            return False
    return True


# -- 2. window latency ------------------------------------------------------------------


def latency(kafka: RunningComponent, seconds: float, rate: float) -> dict[str, Any]:
    """Real-time events for `seconds`; each closed window's delay past end + lateness."""
    bootstrap = kafka.env()["KAFKA_BOOTSTRAP_SERVERS"]
    say(f"window latency: {rate:g} events/s in real time for {seconds:g} s ...")
    seen: list[tuple[dict[str, Any], float, float]] = []
    stop = threading.Event()

    def watch() -> None:
        consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"bench-{uuid.uuid4()}",
                "auto.offset.reset": "latest",
                "isolation.level": "read_committed",
            }
        )
        consumer.subscribe(["stats"])
        try:
            while not stop.is_set():
                for message in consumer.consume(100, 0.05):
                    if message.error() is None:
                        written = message.timestamp()[1] / 1000
                        seen.append((json.loads(message.value() or b"{}"), written, time.time()))
        finally:
            consumer.close()

    watcher = threading.Thread(target=watch)
    watcher.start()
    time.sleep(3)  # the watcher's assignment, at the topic's end
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    began = time.time()
    i = 0
    while time.time() - began < seconds:
        producer.produce("in", access_event(time.time(), i), partition=i % 2)
        producer.poll(0)
        i += 1
        time.sleep(1 / rate)
    producer.flush(10)
    last = time.time()
    time.sleep(LATENESS + 5)
    stop.set()
    watcher.join()
    written_delays, seen_delays = [], []
    for row, written, arrived in seen:
        end = time.mktime(time.strptime(row["window_end"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
        if began < end - WINDOW and end + LATENESS < last:  # whole windows of the load
            written_delays.append(written - end - LATENESS)
            seen_delays.append(arrived - end - LATENESS)
    if len(seen_delays) < 10:
        raise RuntimeError(f"only {len(seen_delays)} whole windows were written")

    def p(values: list[float], q: int) -> float:
        return round(statistics.quantiles(values, n=100, method="inclusive")[q - 1], 3)

    result = {
        "windows": len(seen_delays),
        "written_p50_s": p(written_delays, 50),
        "written_p99_s": p(written_delays, 99),
        "committed_p50_s": p(seen_delays, 50),
        "committed_p99_s": p(seen_delays, 99),
    }
    say(f"  {result}")
    return result


# -- 3. cold start ----------------------------------------------------------------------


def _wait_overview(url: str, slots: int, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError, ValueError):
            answer = httpx.get(f"{url}/overview", timeout=1).json()
            if answer.get("taskmanagers", 0) >= 1 and answer.get("slots-total", 0) >= slots:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{url}/overview: no TaskManager within {timeout:g}s")


def start_by_hand(base: Path) -> float:
    """jobmanager.sh and taskmanager.sh with the configuration leapfrog would write."""
    comp = component("flink")
    options: FlinkOptions = comp.options({})
    installation = comp.install(options, cache_dir(), lambda *_: None)
    extra = installation.extra
    data = base / "hand"
    for folder in ("conf", "log", "run", "tmp", "checkpoints", "savepoints"):
        (data / folder).mkdir(parents=True, exist_ok=True)
    settings = cluster_config(options, HAND_ADDRESS, options.port, data, extra["java_opts"])
    (data / "conf" / "config.yaml").write_text(config_yaml(settings))
    (data / "conf" / "log4j-console.properties").write_text(log4j_console_properties())
    user: dict[str, Any] = {}
    if os.geteuid() == 0:
        unix = ensure_user("leapfrog")
        for root, dirs, files in os.walk(data):
            for name in (root, *(os.path.join(root, n) for n in (*dirs, *files))):
                os.chown(name, unix.uid, unix.gid)
        user = {"user": unix.uid, "group": unix.gid, "extra_groups": []}
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(data),
        "FLINK_CONF_DIR": str(data / "conf"),
        "FLINK_LOG_DIR": str(data / "log"),
        "FLINK_PID_DIR": str(data / "run"),
    }
    popens = []
    log = open(data / "out.log", "ab")  # noqa: SIM115 - closed below
    started = time.monotonic()
    try:
        for script in ("jobmanager.sh", "taskmanager.sh"):
            popens.append(
                subprocess.Popen(
                    [str(Path(extra["bin"]) / script), "start-foreground"],
                    env=env,
                    cwd=data,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    **user,
                )
            )
        _wait_overview(f"http://{HAND_ADDRESS}:{options.port}", options.slots)
        return time.monotonic() - started
    finally:
        for popen in popens:
            kill_group(popen.pid, 15)
        for popen in popens:
            try:
                popen.wait(30)
            except subprocess.TimeoutExpired:
                kill_group(popen.pid, 9)
                popen.wait()
        log.close()


def start_with_up(base: Path) -> float:
    folder = base / "up"
    folder.mkdir(mode=0o755)
    stack = folder / "leapfrog.yaml"
    spec = {
        "name": f"bench-flink-{uuid.uuid4().hex[:6]}",
        "catalog": {"enabled": False},
        "local": {"addresses": UP_NETWORK},
        "components": {"flink": {}},
    }
    stack.write_text(yaml.safe_dump(spec))
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("LEAPFROG_FILE", None)
    started = time.monotonic()
    try:
        done = subprocess.run(
            [str(CLI), "-f", str(stack), "up", "-d"],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        seconds = time.monotonic() - started
        if done.returncode != 0:
            raise RuntimeError(f"`leapfrog up -d` exited {done.returncode}: {done.stdout[-800:]}")
        return seconds
    finally:
        subprocess.run(
            [str(CLI), "-f", str(stack), "down"],
            cwd=folder,
            env=env,
            capture_output=True,
            timeout=180,
            check=False,
        )


def cold_start(base: Path, rounds: int) -> dict[str, Any]:
    component("flink").install(component("flink").options({}), cache_dir(), lambda *_: None)
    ups, hands = [], []
    for i in range(rounds):
        say(f"cold start, round {i + 1}: by hand ...")
        shutil.rmtree(base / "hand", ignore_errors=True)
        hands.append(start_by_hand(base))
        say(f"  {hands[-1]:.1f} s; `leapfrog up -d` ...")
        shutil.rmtree(base / "up", ignore_errors=True)
        ups.append(start_with_up(base))
        say(f"  {ups[-1]:.1f} s")
    up, hand = statistics.median(ups), statistics.median(hands)
    return {
        "up_s": round(up, 2),
        "by_hand_s": round(hand, 2),
        "ratio": round(up / hand, 2),
        "rounds_up": [round(x, 2) for x in ups],
        "rounds_by_hand": [round(x, 2) for x in hands],
    }


# -- main -------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=300_000, help="events for throughput")
    parser.add_argument("--latency-seconds", type=float, default=90.0)
    parser.add_argument("--rate", type=float, default=300.0, help="events/s for latency")
    parser.add_argument("--checkpoint", default="1s", help="the cluster's checkpoint interval")
    parser.add_argument("--start-rounds", type=int, default=2)
    parser.add_argument(
        "--flink-config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a Flink setting for the throughput cluster (the component's `config:`); repeat",
    )
    parser.add_argument(
        "--only",
        choices=("throughput", "latency", "start"),
        default=None,
        help="one part only (latency runs the throughput part's job first)",
    )
    parser.add_argument("--json", action="store_true", help="JSON on stdout")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="lf-bench-flink-"))
    base.chmod(0o755)
    config = dict(item.split("=", 1) for item in args.flink_config if "=" in item)
    if len(config) != len(args.flink_config):
        parser.error("--flink-config takes KEY=VALUE")
    results: dict[str, Any] = {"checkpoint_interval": args.checkpoint, "flink_config": config}
    try:
        if args.only != "start":
            (base / "kafka").mkdir(mode=0o755)
            topics = {"in": {"partitions": 2}, "stats": {}, "python-stats": {}}
            with run_component(
                "kafka", {"topics": topics}, base / "kafka", address=KAFKA_ADDRESS
            ) as kafka:
                stack, _flink_running, results["throughput"] = throughput(
                    kafka, base, args.events, args.checkpoint, config
                )
                with stack:
                    if args.only != "throughput":
                        results["latency"] = latency(kafka, args.latency_seconds, args.rate)
        if args.only in (None, "start"):
            results["cold_start"] = cold_start(base, args.start_rounds)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    report(results, args.json)
    return 0


def report(results: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(results, indent=1))
        return
    t, lat, cold = results.get("throughput"), results.get("latency"), results.get("cold_start")
    if t:
        print(
            f"throughput: Flink {t['flink_events_per_s']:,} events/s vs Python "
            f"{t['python_events_per_s']:,} events/s ({t['events']:,} events, {t['windows']} "
            f"windows, same rows: {t['same_rows']}): {t['ratio']}x "
            f"(target >= {TARGET_THROUGHPUT:g}x); steady state (first to last window, startup "
            f"left out): Flink {t['steady_flink_events_per_s']:,} vs Python "
            f"{t['steady_python_events_per_s']:,} events/s: {t['steady_ratio']}x"
        )
    if lat:
        print(
            f"window latency beyond the {LATENESS} s lateness ({lat['windows']} windows, "
            f"checkpoints every {results['checkpoint_interval']}): written p50 "
            f"{lat['written_p50_s']} s p99 {lat['written_p99_s']} s; committed (read_committed) "
            f"p50 {lat['committed_p50_s']} s p99 {lat['committed_p99_s']} s "
            f"(target p99 <= {TARGET_LATENCY:g} s)"
        )
    if cold:
        print(
            f"cold start: `up -d` {cold['up_s']} s vs by hand {cold['by_hand_s']} s: "
            f"{cold['ratio']}x (target <= {TARGET_START:g}x; rounds {cold['rounds_up']} vs "
            f"{cold['rounds_by_hand']})"
        )


if __name__ == "__main__":
    sys.exit(main())
