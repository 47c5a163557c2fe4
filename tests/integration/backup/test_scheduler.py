"""Backups on schedule through `leapfrog up`: the `backups` component backs up a real
ZooKeeper every minute, verifies each backup on a scratch server and prunes to
`keep_last: 1`; `leapfrog backup list` shows it, `leapfrog status` its next run, and
its events and figures reach Kafka's `logs` and `metrics` topics through the collector."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from confluent_kafka import Consumer
from kazoo.client import KazooClient

from leapfrog.testing import StackDir, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

STACK = """\
name: backup-sched
local: {addresses: 127.0.62.0/24}
components:
  kafka:
    topics: {logs: {partitions: 1}, metrics: {partitions: 1}}
  zookeeper:
    snapshot_interval_ms: 1000
    backups: {schedule: "* * * * *", keep_last: 1}
  backups: {}
"""


def listing(stack: StackDir) -> dict[str, Any]:
    result = stack.cli("backup", "list", "zookeeper", "--json")
    assert result.code == 0, result.output
    found: dict[str, Any] = json.loads(result.stdout)
    return found


def consume(bootstrap: str, topic: str, want: Any, timeout: float = 90) -> Any:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"t-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error() is not None:
                continue
            found = want(msg.value())
            if found:
                return found
    finally:
        consumer.close()
    raise AssertionError(f"nothing wanted in {topic} within {timeout}s")


def test_scheduled_backups_are_verified_pruned_and_reported() -> None:
    with StackDir(STACK, catalog=False) as stack:
        result = stack.up("-d", timeout=300)
        assert result.code == 0, result.output
        zk = stack.instance("zookeeper-1")
        client = KazooClient(hosts=f"{zk['address']}:2181")
        client.start(timeout=30)
        try:
            client.create("/scheduled/known", b"x" * 100, makepath=True)
        finally:
            client.stop()

        seen: list[str] = []

        def next_run_shown() -> str | None:
            # the status is the last health probe: one taken while the scheduler was
            # still reading the stack says so ("reading the stack file")
            # `detail` is the state's (it changes with the state); `last_check`, the probe's
            item = {i["name"]: i for i in stack.status()}["backups-1"]
            detail = str(item.get("last_check") or item["detail"])
            seen.append(detail)
            return detail if detail.startswith("next: zookeeper ") else None

        try:
            wait_until(next_run_shown, timeout=30, interval=1, what="the next run in the status")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the status said: {sorted(set(seen))}") from None

        def two_scheduled_runs() -> dict[str, Any] | None:
            found = listing(stack)
            runs = found["runs"]
            backups = [r for r in runs if r["action"] == "backup" and r["state"] == "succeeded"]
            prunes = [r for r in runs if r["action"] == "prune" and r["state"] == "succeeded"]
            return found if len(backups) >= 2 and len(prunes) >= 2 else None

        found = wait_until(
            two_scheduled_runs, timeout=240, interval=2, what="two scheduled backups and prunes"
        )
        assert found is not None
        runs = found["runs"]
        made = [r["backup"] for r in runs if r["action"] == "backup" and r["state"] == "succeeded"]
        verified = [r for r in runs if r["action"] == "verify"]
        assert [v["state"] for v in verified] == ["succeeded"] * len(verified)
        assert [v["backup"] for v in verified] == made[: len(verified)]
        # keep_last: 1 -> only the newest backup is left, verified
        (kept,) = found["backups"]
        assert kept["id"] == made[-1]
        assert kept["verified"] == "succeeded"
        text = stack.log("backups-1")
        assert "scheduled backup" in text and "Traceback" not in text

        bootstrap = f"{stack.instance('kafka-1')['address']}:9092"

        def backup_event(value: bytes) -> dict[str, Any] | None:
            event: dict[str, Any] = json.loads(value)
            wanted = event.get("event") == "verify" and event.get("store") == "zookeeper"
            return event if wanted and event.get("instance") == "backups-1" else None

        event = consume(bootstrap, "logs", backup_event)
        assert event["state"] == "succeeded" and event["service"] == "backups"
        assert event["logger"] == "leapfrog.backup.scheduler"
        assert event["backup"] in made

        def verified_line(value: bytes) -> str | None:
            for line in value.decode().splitlines():
                if line.startswith("backups_verified,") and "store=zookeeper" in line:
                    return line
            return None

        line = consume(bootstrap, "metrics", verified_line)
        assert " value=1" in line
