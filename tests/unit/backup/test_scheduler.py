"""The scheduler's rules with a driver that does what the test says and a clock the test
moves: runs at cron times, backup then verify then prune, busy stores skipped and said,
missed times caught up once (not replayed), events and metrics of every run."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx

from leapfrog.backup import DirectoryStorage, Engine, Limits, Store, Verified
from leapfrog.backup._stack import LocalStack
from leapfrog.backup.scheduler import (
    Scheduler,
    next_time,
    previous_time,
    serve_scheduler,
)
from leapfrog.components._backup_options import BackupOptions
from leapfrog.components.base import Installation, Instance
from leapfrog.telemetry import prometheus_samples

from .test_engine import FakeDriver

T0 = datetime(2026, 12, 6, 10, 0, 30, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Harness:
    """One store `fake` with `backups:` as given, its engines sharing one storage."""

    def __init__(self, tmp_path: Path, driver: FakeDriver | None = None, **backups: Any) -> None:
        self.tmp = tmp_path
        self.driver = driver or FakeDriver({"a": b"x" * 100})
        self.options = SimpleNamespace(backups=BackupOptions(**backups))
        self.events: list[dict[str, Any]] = []
        self.clock = Clock(T0)
        self.version = 0

    def stack(self) -> LocalStack:
        where = Instance("fake", "fake-1", "127.0.0.1", 1, self.tmp, self.tmp, self.tmp)
        store = Store("fake", object(), self.options, where, Installation("1", self.tmp))  # type: ignore[arg-type]
        return LocalStack(self.tmp / "state", {"fake": store})

    def engine(self, stack: LocalStack, name: str, limits: Limits) -> Engine:
        store = stack.stores[name]
        return Engine(
            store, self.driver, DirectoryStorage(self.tmp / "s"), stack.backups_dir, limits
        )

    def scheduler(
        self,
        catch_up_delay: float = 60.0,
        answers: Callable[[Store], bool] = lambda store: True,  # the fake store is no server
        store_wait: float = 120.0,
    ) -> Scheduler:
        return Scheduler(
            self.stack,
            self.events.append,
            self.tmp / "sched",
            clock=self.clock,
            catch_up_delay=catch_up_delay,
            changed=lambda: self.version,
            make_engine=self.engine,
            answers=answers,
            store_wait=store_wait,
        )

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == kind]


def test_cron_times() -> None:
    assert next_time("*/10 * * * *", T0) == datetime(2026, 12, 6, 10, 10, tzinfo=UTC)
    assert previous_time("*/10 * * * *", T0) == datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
    at = datetime(2026, 12, 6, 10, 10, tzinfo=UTC)
    assert previous_time("*/10 * * * *", at) == at  # "at or before"


def test_a_due_time_runs_backup_verify_prune_with_events_and_metrics(tmp_path: Path) -> None:
    h = Harness(tmp_path, schedule="* * * * *", keep_last=1)
    sched = h.scheduler()
    sched.refresh()
    (scheduled,) = h.of("scheduled")
    assert scheduled["next"] == "2026-12-06T10:01:00+00:00"
    assert h.of("catch-up") == []  # first seen now: nothing was missed
    assert sched.tick() == []  # not yet due
    for minute in (1, 2):
        h.clock.now = T0 + timedelta(minutes=minute)
        assert sched.tick() == ["fake"]
        sched.join(10)
    backups = [e for e in h.of("backup") if e["state"] == "succeeded"]
    assert len(backups) == 2 and backups[0]["bytes"] == 100
    assert [e["state"] for e in h.of("verify")] == ["succeeded", "succeeded"]
    assert h.of("verify")[1]["backup"] == backups[1]["backup"]  # the backup just made
    prunes = h.of("prune")
    assert prunes[-1]["kept"] == [backups[1]["backup"]]  # keep_last: 1
    assert prunes[-1]["deleted"] == [backups[0]["backup"]]
    assert all(e["logger"] == "leapfrog.backup.scheduler" and e["message"] for e in h.events)
    figures = {(s.name, s.labels.get("action", "")): s.value for s in _samples(sched)}
    assert figures[("backups_verified", "")] == 1.0
    assert figures[("backups_last_bytes", "")] == 100.0
    assert figures[("backups_runs_total", "backup")] == 2.0
    assert figures[("backups_last_success_timestamp_seconds", "")] == h.clock.now.timestamp()
    nxt = datetime(2026, 12, 6, 10, 3, tzinfo=UTC).timestamp()
    assert figures[("backups_next_run_timestamp_seconds", "")] == nxt
    assert sched.health()["detail"] == "next: fake 10:03"


def test_a_failed_verification_is_an_error_and_nothing_is_pruned(tmp_path: Path) -> None:
    class BadVerify(FakeDriver):
        def verify(self, *args: Any) -> Verified:
            return Verified(False, "row counts differ")

    h = Harness(tmp_path, BadVerify({"a": b"x"}), schedule="* * * * *")
    sched = h.scheduler()
    sched.refresh()
    h.clock.now = T0 + timedelta(minutes=1)
    sched.tick()
    sched.join(10)
    (verify,) = h.of("verify")
    assert verify["state"] == "failed" and verify["level"] == "error"
    assert "row counts differ" in verify["reason"]
    assert h.of("prune") == []
    figures = {s.name: s.value for s in _samples(sched)}
    assert figures["backups_verified"] == 0.0
    assert "backups_last_success_timestamp_seconds" not in figures
    assert "last run failed: fake" in sched.health()["detail"]


def test_verify_false_skips_verification(tmp_path: Path) -> None:
    h = Harness(tmp_path, schedule="* * * * *", verify=False)
    sched = h.scheduler()
    sched.refresh()
    h.clock.now = T0 + timedelta(minutes=1)
    sched.tick()
    sched.join(10)
    assert h.of("verify") == [] and len(h.of("prune")) == 1


def test_a_store_locked_by_another_run_is_skipped_and_said(tmp_path: Path) -> None:
    h = Harness(tmp_path, schedule="* * * * *")
    sched = h.scheduler()
    sched.refresh()
    other = h.engine(h.stack(), "fake", Limits())
    with other._locked("backup"):  # a `leapfrog backup run` by hand holds the lock
        h.clock.now = T0 + timedelta(minutes=1)
        sched.tick()
        sched.join(10)
    (skipped,) = h.of("skipped")
    assert "another backup run of fake is in progress" in skipped["message"]
    assert h.of("backup") == []


def test_a_time_that_comes_while_the_previous_run_goes_is_skipped(tmp_path: Path) -> None:
    release = threading.Event()
    driver = FakeDriver({"a": b"x"})
    driver.hook = lambda: release.wait(10)
    h = Harness(tmp_path, driver, schedule="* * * * *")
    sched = h.scheduler()
    sched.refresh()
    h.clock.now = T0 + timedelta(minutes=1)
    assert sched.tick() == ["fake"]
    h.clock.now = T0 + timedelta(minutes=2)
    assert sched.tick() == []
    (skipped,) = h.of("skipped")
    assert "still at backup" in skipped["message"]
    assert "(backup now)" in sched.health()["detail"]
    release.set()
    sched.join(10)
    assert [e["state"] for e in h.of("backup")] == ["succeeded"]


def test_missed_times_are_caught_up_once_not_replayed(tmp_path: Path) -> None:
    # Real times here: the run history records when runs really started. The clock sits
    # mid-slot of the real one, so its 61 s step below never crosses a scheduled time.
    real = datetime.now(UTC).replace(second=0, microsecond=0)
    now = real.replace(minute=real.minute - real.minute % 10) + timedelta(minutes=5)
    h = Harness(tmp_path, schedule="*/10 * * * *")
    h.clock.now = now - timedelta(hours=5)
    first = h.scheduler()
    first.refresh()  # the schedule is first seen 5 hours ago
    # The scheduler was down since: 30 times missed.
    h.clock.now = now
    later = h.scheduler(catch_up_delay=60)
    later.refresh()
    (catch_up,) = h.of("catch-up")
    assert catch_up["missed"] == previous_time("*/10 * * * *", now).isoformat()
    assert "not replayed" in catch_up["message"]
    assert later.tick() == []  # not at once: after the delay
    h.clock.now += timedelta(seconds=61)
    assert later.tick() == ["fake"]
    later.join(10)
    assert len(h.of("backup")) == 1  # once, not 30 times
    assert later.stores["fake"].next_at == next_time("*/10 * * * *", h.clock.now)
    # once a backup ran after the last time, a restart has nothing to catch up
    h.clock.now = now  # (a later clock could pass the next time: flaky)
    again = h.scheduler()
    again.refresh()
    assert len(h.of("catch-up")) == 1


def test_an_edited_stack_file_is_read_again(tmp_path: Path) -> None:
    h = Harness(tmp_path, schedule="0 3 * * *")
    sched = h.scheduler()
    sched.refresh()
    assert sched.stores["fake"].next_at == datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
    h.options = SimpleNamespace(backups=BackupOptions(schedule="*/5 * * * *"))
    h.version += 1
    sched.tick()
    assert sched.stores["fake"].next_at == datetime(2026, 12, 6, 10, 5, tzinfo=UTC)
    h.options = SimpleNamespace(backups=BackupOptions())  # schedule removed
    h.version += 1
    sched.tick()
    assert sched.stores == {}
    assert sched.health()["detail"] == "no store declares backups.schedule"


def test_health_and_metrics_over_http(tmp_path: Path) -> None:
    h = Harness(tmp_path, schedule="* * * * *")
    sched = h.scheduler()
    sched.refresh()
    server = serve_scheduler(sched, "127.0.0.1", 0)
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        health = httpx.get(base + "/health", timeout=5)
        assert health.status_code == 200
        assert health.json()["stores"]["fake"]["schedule"] == "* * * * *"
        page = httpx.get(base + "/metrics", timeout=5).text
        assert 'backups_next_run_timestamp_seconds{store="fake"}' in page
        assert httpx.get(base + "/nope", timeout=5).status_code == 404
    finally:
        server.shutdown()


def test_events_are_json_lines_the_collector_ships(capsys: Any) -> None:
    from leapfrog.backup.scheduler import json_line_emitter
    from leapfrog.telemetry import PLAIN, LogAssembler

    json_line_emitter()({"level": "error", "logger": "x", "message": "m", "store": "pg"})
    line = capsys.readouterr().out
    (event,) = LogAssembler(PLAIN, "backups-1").feed(line) or LogAssembler(PLAIN).flush()
    assert event["level"] == "error" and event["store"] == "pg" and "ts" in json.loads(line)


def _samples(sched: Scheduler) -> list[Any]:
    from prometheus_client import generate_latest

    return prometheus_samples(generate_latest(sched.registry).decode())


def test_a_stack_file_broken_mid_edit_keeps_the_schedules_and_says_so(tmp_path: Path) -> None:
    from leapfrog.spec import Problem, SpecError

    h = Harness(tmp_path, schedule="*/5 * * * *")
    broken = False

    def resolve() -> LocalStack:
        if broken:
            raise SpecError([Problem("leapfrog.yaml", 3, 5, "components.x", "unknown key")])
        return h.stack()

    sched = Scheduler(
        resolve,
        h.events.append,
        tmp_path / "sched",
        clock=h.clock,
        changed=lambda: h.version,
        make_engine=h.engine,
        answers=lambda store: True,
    )
    sched.refresh()
    broken, h.version = True, 1
    sched.tick()
    assert list(sched.stores) == ["fake"]  # as before
    assert sched.health()["detail"] == (
        "cannot read the stack (schedules as before): components.x: unknown key"
    )
    assert h.events[-1]["level"] == "error"
    broken, h.version = False, 2
    sched.tick()
    assert sched.health()["detail"] == "next: fake 10:05"


def test_catch_ups_of_several_stores_run_one_after_another(tmp_path: Path) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    h = Harness(tmp_path, schedule="0 0 1 * *")  # monthly: its next time is far
    one = h.stack().stores["fake"]
    two_stores = LocalStack(tmp_path / "state", {"a": one, "b": one})
    h.clock.now = now - timedelta(days=40)

    def scheduler() -> Scheduler:
        return Scheduler(
            lambda: two_stores,
            h.events.append,
            tmp_path / "sched",
            clock=h.clock,
            catch_up_delay=60,
            make_engine=h.engine,
            answers=lambda store: True,
        )

    scheduler().refresh()  # both schedules first seen 40 days ago
    h.clock.now = now
    later = scheduler()
    later.refresh()
    assert [e["store"] for e in h.of("catch-up")] == ["a", "b"]
    assert later.stores["a"].next_at == now + timedelta(seconds=60)
    assert later.stores["b"].next_at == now + timedelta(seconds=120)
    assert later.health()["detail"].startswith("next: a ")


def test_health_before_the_stack_is_read(tmp_path: Path) -> None:
    h = Harness(tmp_path, schedule="* * * * *")
    assert h.scheduler().health()["detail"] == "reading the stack file"


def test_a_due_run_waits_for_a_store_that_does_not_take_connections_yet(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path, schedule="* * * * *")
    probes: list[str] = []

    def answers(store: Store) -> bool:  # the store starts taking connections on the 2nd probe
        probes.append(store.where.instance)
        return len(probes) >= 2

    sched = h.scheduler(answers=answers)
    sched.refresh()
    h.clock.now = T0 + timedelta(minutes=1)
    assert sched.tick() == ["fake"]
    sched.join(10)
    (waiting,) = h.of("waiting")
    assert "fake-1 does not take connections at 127.0.0.1:1 yet" in waiting["message"]
    assert probes == ["fake-1", "fake-1"]
    assert [e["state"] for e in h.of("backup")] == ["succeeded"]


def test_a_store_that_never_answers_is_tried_after_the_wait(tmp_path: Path) -> None:
    driver = FakeDriver({"a": b"x"})
    h = Harness(tmp_path, driver, schedule="* * * * *")
    sched = h.scheduler(answers=lambda store: False, store_wait=0.2)
    sched.refresh()
    h.clock.now = T0 + timedelta(minutes=1)
    assert sched.tick() == ["fake"]
    sched.join(10)
    assert len(h.of("waiting")) == 1
    assert len(h.of("backup")) == 1  # tried anyway: the driver says what is wrong
