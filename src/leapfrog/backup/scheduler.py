"""Backups on schedule: the process of the stack's `backups` component.

For each store whose `backups:` declares a `schedule` (cron, UTC), at each of its times:
`Engine.run_backup` (the store's `mode`), then `Engine.verify` of that backup (unless
`verify: false`), then `Engine.prune` with the store's retention. Each store has its own
worker, so a long run of one store never delays another.

- A time that comes while the store's previous run is still going, or while another
  run holds the store's lock (`leapfrog backup run` by hand: `BackupBusy`), is skipped,
  and an event says so.
- Times missed while the scheduler was down are not replayed: on start, a store whose
  latest scheduled time passed since its last backup (and since its schedule was first
  seen) runs once, `catch_up_delay` seconds later (the next such store that much after
  it, and so on), so catch-ups neither compete with the stack's own start nor with each
  other; an event says it is a catch-up. A store whose next time comes sooner simply
  runs then.
- Every step's result is one JSON line on stdout (`logger: leapfrog.backup.scheduler`,
  `event: backup|verify|prune|skipped|catch-up|scheduled`): the supervisor's collector
  ships it to the `logs` topic like any log record. The figures per store (last
  success, duration, bytes, verification, next run) are on `/metrics`, which the
  component's `metrics` step reads for the collector; `/health` says the next runs.
- It runs at a lower CPU priority (nice 10), and the programs it starts inherit it.

The stack is handed in as `resolve` (the CLI layer builds it with the local runtime's
knowledge of where each instance lives); it is read again when `changed` says the stack
file changed, so new or edited schedules take effect without a restart.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from croniter import croniter
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from leapfrog.backup._stack import LocalStack, backup_options, engine_for, policy_of
from leapfrog.backup.driver import Store
from leapfrog.backup.engine import BackupBusy, Engine, Limits
from leapfrog.backup.history import RunRecord
from leapfrog.shared.errors import LeapfrogError
from leapfrog.shared.files import atomic_write_text, read_json
from leapfrog.shared.health_server import serve_health

__all__ = ["Scheduler", "json_line_emitter", "lower_priority", "serve_scheduler"]

Event = dict[str, Any]
Emit = Callable[[Event], None]
Clock = Callable[[], datetime]

LOGGER = "leapfrog.backup.scheduler"
CATCH_UP_DELAY = 60.0
STORE_WAIT = 120.0
"""A run due while its store does not take connections (the stack still starting, the
store restarting) waits this long for it, then tries anyway and fails saying why."""
"""Seconds after start before a catch-up run (the stack is still starting)."""
_STALE = 120.0
"""A loop that has not turned for this long is stuck: the health probe fails."""
_IDLE = 30.0
"""The loop's longest sleep: how soon an edited stack file's schedules are seen."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


def next_time(expression: str, after: datetime) -> datetime:
    """The first time of `expression` strictly after `after` (UTC)."""
    found: datetime = croniter(expression, after).get_next(datetime)
    return found


def previous_time(expression: str, before: datetime) -> datetime:
    """The last time of `expression` at or before `before` (UTC)."""
    found: datetime = croniter(expression, before + timedelta(seconds=1)).get_prev(datetime)
    return found


def json_line_emitter(stream: Any = None) -> Emit:
    """Events as JSON lines with a timestamp, on stdout: the collector ships them."""
    lock = threading.Lock()

    def emit(event: Event) -> None:
        line = json.dumps({"ts": _utc_now().isoformat(), **event}, default=str)
        with lock:
            print(line, file=stream or sys.stdout, flush=True)

    return emit


@dataclass
class StoreSchedule:
    """One store's schedule and what its runs did (the worker writes, probes read)."""

    name: str
    schedule: str
    next_at: datetime
    catch_up: bool = False
    worker: threading.Thread | None = None
    step: str = ""
    """What the worker does now (backup, verify, prune), or ""."""
    last_success: datetime | None = None
    last_backup: str = ""
    last_state: str = ""
    last_duration: float = 0.0
    last_bytes: int = 0
    verified: float = float("nan")
    """1 passed, 0 failed, NaN: not verified (yet)."""
    runs: Counter[tuple[str, str]] = field(default_factory=Counter)
    skipped: int = 0

    @property
    def busy(self) -> bool:
        return self.worker is not None and self.worker.is_alive()


class Scheduler:
    def __init__(  # noqa: PLR0917
        self,
        resolve: Callable[[], LocalStack],
        emit: Emit,
        data_dir: Path,
        clock: Clock = _utc_now,
        limits: Limits | None = None,
        catch_up_delay: float = CATCH_UP_DELAY,
        changed: Callable[[], object] = lambda: None,
        make_engine: Callable[[LocalStack, str, Limits], Engine] | None = None,
        store_wait: float = STORE_WAIT,
        answers: Callable[[Store], bool] | None = None,
    ) -> None:
        self._resolve = resolve
        self._engine = make_engine or _scheduled_engine
        self._emit = emit
        self._clock = clock
        self._limits = limits or Limits()
        self._catch_up_delay = catch_up_delay
        self._changed = changed
        self._store_wait = store_wait
        self._answers = answers or _takes_connections
        self._seen_version: object = None
        self._since_file = data_dir / "schedules.json"
        self.stack: LocalStack | None = None
        self.stores: dict[str, StoreSchedule] = {}
        self.last_turn = time.monotonic()
        self.problem = ""
        self.registry = CollectorRegistry()
        self.registry.register(self)

    # -- the stack's schedules ----------------------------------------------------
    def refresh(self) -> None:
        """Read the stack (again) and take its schedules: new stores start (or catch up),
        an edited expression starts over from now, removed ones are dropped."""
        self._seen_version = self._changed()
        try:
            stack = self._resolve()
        except Exception as exc:  # a stack file broken mid-edit: keep the schedules, say so
            self.problem = f"cannot read the stack (schedules as before): {_why(exc)}"
            self._emit(
                {"level": "error", "logger": LOGGER, "event": "stack", "message": self.problem}
            )
            return
        self.problem = ""
        now = self._clock()
        since = self._since(stack)
        declared = stack.schedules()
        # Built aside and swapped at the end: probes never see half of the stores.
        stores = {name: e for name, e in self.stores.items() if name in declared}
        if not declared:
            self._emit(
                {
                    "level": "info",
                    "logger": LOGGER,
                    "event": "scheduled",
                    "message": "no store of the stack declares backups.schedule: nothing to do",
                }
            )
        for name, options in declared.items():
            expression = options.schedule or ""
            known = stores.get(name)
            if known is not None and known.schedule == expression:
                continue
            if known is None:
                entry = StoreSchedule(name, expression, next_time(expression, now))
                waiting = sum(e.catch_up for e in stores.values())
                delay = self._catch_up_delay * (waiting + 1)  # one after another
                self._catch_up(stack, entry, since[name], now + timedelta(seconds=delay))
            else:  # an edited expression: from now on, with what its runs did so far
                entry = replace(known, schedule=expression, next_at=next_time(expression, now))
            stores[name] = entry
            self._emit(
                {
                    "level": "info",
                    "logger": LOGGER,
                    "event": "scheduled",
                    "store": name,
                    "schedule": expression,
                    "next": entry.next_at.isoformat(),
                    "message": f"backups of {name} on {expression!r} (UTC); "
                    f"next {entry.next_at:%Y-%m-%d %H:%M}",
                }
            )
        self.stores = stores
        self.stack = stack  # last: until now a probe says "reading the stack file"

    def _since(self, stack: LocalStack) -> dict[str, datetime]:
        """When each schedule (store and expression) was first seen; kept in the data dir."""
        found = read_json(self._since_file)
        old = found if isinstance(found, dict) else {}
        now = self._clock()
        result: dict[str, datetime] = {}
        kept: dict[str, Any] = {}
        for name, options in stack.schedules().items():
            entry = old.get(name)
            when = now
            if isinstance(entry, dict) and entry.get("schedule") == options.schedule:
                try:
                    when = datetime.fromisoformat(str(entry.get("since")))
                except ValueError:
                    when = now
            result[name] = when
            kept[name] = {"schedule": options.schedule, "since": when.isoformat()}
        if kept != old:
            self._since_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            atomic_write_text(self._since_file, json.dumps(kept, indent=1) + "\n", 0o600)
        return result

    def _catch_up(
        self, stack: LocalStack, entry: StoreSchedule, since: datetime, at: datetime
    ) -> None:
        """Once, at `at`, if the latest scheduled time passed since the last backup run
        started."""
        engine = self._engine(stack, entry.name, self._limits)
        backups = [r.started for r in engine.history.records() if r.action == "backup"]
        latest = max([since, *backups])
        missed = previous_time(entry.schedule, self._clock())
        if missed <= latest or at >= entry.next_at:
            return
        entry.catch_up = True
        entry.next_at = at
        self._emit(
            {
                "level": "warning",
                "logger": LOGGER,
                "event": "catch-up",
                "store": entry.name,
                "missed": missed.isoformat(),
                "message": f"the backup of {entry.name} due at {missed:%Y-%m-%d %H:%M} was "
                f"missed (leapfrog was down); running it once at "
                f"{entry.next_at:%H:%M:%S}, earlier missed times are not replayed",
            }
        )

    # -- the loop -------------------------------------------------------------------
    def tick(self) -> list[str]:
        """Start the runs that are due; the stores started."""
        self.last_turn = time.monotonic()
        if self._changed() != self._seen_version:
            self.refresh()
        now = self._clock()
        started = []
        for entry in list(self.stores.values()):
            if entry.next_at > now:
                continue
            due = entry.next_at
            entry.next_at = next_time(entry.schedule, now)
            entry.catch_up = False
            if entry.busy:
                entry.skipped += 1
                self._emit(
                    {
                        "level": "warning",
                        "logger": LOGGER,
                        "event": "skipped",
                        "store": entry.name,
                        "due": due.isoformat(),
                        "message": f"backup of {entry.name} due at {due:%H:%M} skipped: its "
                        f"previous scheduled run is still at {entry.step or 'work'}",
                    }
                )
                continue
            entry.worker = threading.Thread(
                target=self.run_store, args=(entry,), name=f"backup-{entry.name}", daemon=True
            )
            entry.worker.start()
            started.append(entry.name)
        return started

    def seconds_to_next(self) -> float:
        now = self._clock()
        waits = [(e.next_at - now).total_seconds() for e in self.stores.values()]
        return max(0.0, min([_IDLE, *waits]))

    def serve(self, stop: threading.Event) -> None:
        """Until `stop`: tick, sleep until the next time (at most _IDLE s)."""
        self.refresh()
        while not stop.is_set():
            self.tick()
            stop.wait(self.seconds_to_next() + 0.05)

    def join(self, timeout: float | None = None) -> None:
        """Wait for the running workers (tests)."""
        for entry in list(self.stores.values()):
            if entry.worker is not None:
                entry.worker.join(timeout)

    # -- one scheduled run ----------------------------------------------------------
    def run_store(self, entry: StoreSchedule) -> None:
        """backup, verify, prune; every result an event. Never raises."""
        try:
            self._run(entry)
        except Exception as exc:  # a bug must not end the scheduler; it is said
            self._emit(
                {
                    "level": "error",
                    "logger": LOGGER,
                    "event": "error",
                    "store": entry.name,
                    "message": f"scheduled backup of {entry.name}: {type(exc).__name__}: {exc}",
                }
            )
        finally:
            entry.step = ""

    def _run(self, entry: StoreSchedule) -> None:
        stack = self.stack
        if stack is None:
            return
        engine = self._engine(stack, entry.name, self._limits)
        options = backup_options(engine.store.options)
        mode = getattr(options, "mode", None)
        self._wait_for(entry, engine.store)
        entry.step = "backup"
        record = self._step(entry, "backup", lambda: engine.run_backup(mode))
        if record is None:
            return
        entry.last_state = record.state
        if record.state != "succeeded":
            return
        entry.last_backup = record.backup
        entry.last_bytes = record.bytes
        if options is None or options.verify:
            entry.step = "verify"
            checked = self._step(entry, "verify", lambda: engine.verify(record.backup))
            if checked is None:
                return
            entry.verified = 1.0 if checked.state == "succeeded" else 0.0
            entry.last_state = "verify " + checked.state
            if checked.state != "succeeded":
                return
        entry.last_success = self._clock()
        entry.step = "prune"
        policy = policy_of(engine.store.options)
        self._step(entry, "prune", lambda: engine.prune(policy))

    def _wait_for(self, entry: StoreSchedule, store: Store) -> None:
        """Until the store takes connections, at most `store_wait` seconds (said once)."""
        if self._answers(store):
            return
        entry.step = "waiting for the store"
        where = f"{store.where.address}:{store.where.port}"
        self._emit(
            {
                "level": "info",
                "logger": LOGGER,
                "event": "waiting",
                "store": entry.name,
                "message": f"backup of {entry.name} is due; {store.where.instance} does not "
                f"take connections at {where} yet: waiting up to {self._store_wait:.0f} s",
            }
        )
        deadline = time.monotonic() + self._store_wait
        while time.monotonic() < deadline:
            time.sleep(min(2.0, max(0.0, deadline - time.monotonic())))
            if self._answers(store):
                return

    def _step(
        self, entry: StoreSchedule, action: str, call: Callable[[], RunRecord]
    ) -> RunRecord | None:
        started = time.monotonic()
        try:
            record = call()
        except BackupBusy as exc:
            entry.skipped += 1
            self._emit(
                {
                    "level": "warning",
                    "logger": LOGGER,
                    "event": "skipped",
                    "action": action,
                    "store": entry.name,
                    "message": f"scheduled {action} of {entry.name} skipped: {exc}",
                }
            )
            return None
        except LeapfrogError as exc:
            entry.runs[(action, "failed")] += 1
            entry.last_state = f"{action} failed"
            self._emit(
                {
                    "level": "error",
                    "logger": LOGGER,
                    "event": action,
                    "store": entry.name,
                    "state": "failed",
                    "reason": str(exc),
                    "message": f"scheduled {action} of {entry.name} failed: {exc}",
                }
            )
            return None
        seconds = time.monotonic() - started
        entry.runs[(action, record.state)] += 1
        if action == "backup":
            entry.last_duration = seconds
        self._emit(_event(entry.name, action, record, seconds))
        return record

    # -- what it reports ------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        age = time.monotonic() - self.last_turn
        parts = []
        for entry in sorted(self.stores.values(), key=lambda e: e.next_at):
            doing = f" ({entry.step} now)" if entry.step else ""
            parts.append(f"{entry.name} {entry.next_at:%H:%M}{doing}")
        detail = "next: " + ", ".join(parts) if parts else "no store declares backups.schedule"
        if self.stack is None and not self.problem:
            detail = "reading the stack file"
        failed = [e.name for e in self.stores.values() if e.last_state.endswith("failed")]
        if failed:
            detail += f"; last run failed: {', '.join(sorted(failed))}"
        if self.problem:
            detail = self.problem[:200]
        return {
            "ok": age < _STALE,
            "detail": detail,
            "stores": {
                e.name: {
                    "schedule": e.schedule,
                    "next": e.next_at.isoformat(),
                    "running": e.step,
                    "last_state": e.last_state,
                    "last_backup": e.last_backup,
                    "last_success": e.last_success.isoformat() if e.last_success else None,
                    "skipped": e.skipped,
                }
                for e in self.stores.values()
            },
        }

    def collect(self) -> Iterator[Any]:
        """The figures as Prometheus metric families (a prometheus_client collector)."""
        p = "backups"
        gauges = {
            "last_success_timestamp_seconds": "When the last scheduled backup (and its "
            "verification) succeeded, Unix time",
            "last_duration_seconds": "Duration of the last scheduled backup",
            "last_bytes": "Bytes of the last succeeded backup (before compression)",
            "verified": "1: the last scheduled backup's verification passed, 0: it failed",
            "next_run_timestamp_seconds": "The next scheduled time, Unix time",
            "running": "1 while a scheduled run of the store is going",
        }
        families = {
            name: GaugeMetricFamily(f"{p}_{name}", text, labels=["store"])
            for name, text in gauges.items()
        }
        runs = CounterMetricFamily(
            f"{p}_runs", "Scheduled steps by action and result", labels=["store", "action", "state"]
        )
        skipped = CounterMetricFamily(
            f"{p}_skipped",
            "Scheduled times skipped (a run was going)",
            labels=["store"],
        )
        for e in list(self.stores.values()):
            if e.last_success is not None:
                families["last_success_timestamp_seconds"].add_metric(
                    [e.name], e.last_success.timestamp()
                )
            if e.runs[("backup", "succeeded")] or e.runs[("backup", "failed")]:
                families["last_duration_seconds"].add_metric([e.name], e.last_duration)
            if e.last_bytes:
                families["last_bytes"].add_metric([e.name], float(e.last_bytes))
            if e.verified == e.verified:  # not NaN
                families["verified"].add_metric([e.name], e.verified)
            families["next_run_timestamp_seconds"].add_metric([e.name], e.next_at.timestamp())
            families["running"].add_metric([e.name], 1.0 if e.step else 0.0)
            for (action, state), count in sorted(e.runs.items()):
                runs.add_metric([e.name, action, state], float(count))
            skipped.add_metric([e.name], float(e.skipped))
        yield from families.values()
        yield GaugeMetricFamily(
            f"{p}_scheduled_stores", "Stores with a schedule", value=float(len(self.stores))
        )
        yield runs
        yield skipped


def _why(exc: BaseException) -> str:
    problems = getattr(exc, "problems", None)  # a SpecError: its first problem
    if problems:
        first = problems[0]
        return f"{getattr(first, 'field', '')}: {getattr(first, 'message', first)}"
    return str(exc) or type(exc).__name__


def _event(store: str, action: str, record: RunRecord, seconds: float) -> Event:
    ok = record.state == "succeeded"
    what = f" {record.backup}" if record.backup else ""
    message = f"scheduled {action}{what} of {store} {record.state} in {seconds:.1f}s"
    if action == "backup" and ok:
        message += f" ({record.bytes} bytes)"
    if action == "prune" and ok:
        kept = record.details.get("kept", [])
        deleted = record.details.get("deleted", [])
        message += f": kept {len(kept)}, deleted {len(deleted)}"
    if record.reason:
        message += f": {record.reason}"
    event: Event = {
        "level": "info" if ok else "error",
        "logger": LOGGER,
        "event": action,
        "store": store,
        "state": record.state,
        "backup": record.backup,
        "run": record.id,
        "duration_s": round(seconds, 3),
        "bytes": record.bytes,
        "message": message,
    }
    if record.reason:
        event["reason"] = record.reason
    if action == "prune":
        event["kept"] = record.details.get("kept", [])
        event["deleted"] = record.details.get("deleted", [])
    return event


def serve_scheduler(scheduler: Scheduler, host: str, port: int) -> ThreadingHTTPServer:
    """`/health` (JSON, 503 when the loop is stuck) and `/metrics`, on their own thread."""
    return serve_health(scheduler.health, scheduler.registry, (host, port), "scheduler-stats")


def lower_priority(increment: int = 10) -> None:
    """Backups yield the CPU to the stack; the programs they start inherit it."""
    with contextlib.suppress(OSError):
        os.nice(increment)


def _takes_connections(store: Store) -> bool:
    try:
        with socket.create_connection((store.where.address, store.where.port), timeout=2):
            return True
    except OSError:
        return False


def _scheduled_engine(stack: LocalStack, store: str, limits: Limits) -> Engine:
    """A store's engine as a scheduled run needs it: limited to what its `backups:`
    block chooses (topics, indices, databases), like `leapfrog backup run`."""
    return engine_for(stack, store, limits, stack_choice=True)
