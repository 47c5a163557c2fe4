"""The collector against real programs: a stack with ZooKeeper, PostgreSQL, the load
balancer (HAProxy), the catalog and a plain service, run by the real supervisor, ships
their logs, the supervisor's events and a kernel message to the session broker's `logs`
topic, and their metrics to `metrics`; the session broker's own log goes through the
Kafka component's format."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import uuid
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

from leapfrog.runtime.local.logpump import FileSource, LogPump
from leapfrog.telemetry import LogAssembler, LogShipper, ShipperSettings, encode_event
from leapfrog.testing import RunningComponent, StackDir, free_port, run_cli, wait_until
from tests.integration.conftest import APPS, PYTHON
from tests.integration.runtime.kafka_read import TopicReader

pytestmark = pytest.mark.integration


def _events(values: list[bytes]) -> list[dict[str, Any]]:
    found = []
    for value in values:
        try:
            event = json.loads(value)
        except ValueError:
            continue
        if isinstance(event, dict):
            found.append(event)
    return found


def _stack_text(mark: str) -> str:
    return (
        f"name: coll-{mark[:6]}\n"
        f"catalog: {{http: '127.0.0.1:{free_port()}', dns: '127.0.0.1:{free_port()}'}}\n"
        "components:\n"
        "  zookeeper: {}\n"
        "  postgres: {}\n"
        f"  lb: {{listen: '127.0.0.1:{free_port()}', stats: '127.0.0.1:{free_port()}'}}\n"
        "services:\n"
        "  chatty:\n"
        f"    command: {PYTHON} chatty.py\n"
        "    port: 8000\n"
        f"    env: {{MARK: '{mark}'}}\n"
        "    check: {http: /}\n"
        "    scrape: {path: /metrics, interval: 1s}\n"
        "host_logs: {kmsg: true}\n"
    )


def test_platform_logs_events_kernel_and_metrics_reach_kafka(kafka: RunningComponent) -> None:
    bootstrap = kafka.env()["KAFKA_BOOTSTRAP_SERVERS"]
    mark = uuid.uuid4().hex
    logs = TopicReader(bootstrap, "logs")
    metrics = TopicReader(bootstrap, "metrics")
    env = {"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "LEAPFROG_METRICS_INTERVAL": "2"}
    with StackDir() as stack:
        stack.copy_in(APPS / "chatty.py")
        stack.write(_stack_text(mark))
        started = run_cli("up", "-d", cwd=stack.root, env=env, timeout=300)
        assert started.code == 0, started.output
        stack_name = f"coll-{mark[:6]}"
        with open("/dev/kmsg", "w") as kmsg:
            kmsg.write(f"<6>leapfrog-test: kernel line {mark}\n")
        pid = stack.instance("chatty-1")["pid"]
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: stack.instance("chatty-1")["pid"] not in (None, pid), 30, what="restart")

        def mine(values: list[bytes]) -> list[dict[str, Any]]:
            return [e for e in _events(values) if e.get("stack") == stack_name]

        def has(**fields: object) -> Any:
            return lambda values: any(
                all(e.get(k) == v for k, v in fields.items()) for e in mine(values)
            )

        logs.wait(
            lambda v: any(
                mark in str(e.get("message")) and e.get("source") == "kmsg" for e in mine(v)
            ),
            60,
            "the kernel message",
        )
        logs.wait(
            has(service="chatty", event="exited", signal="SIGKILL", logger="leapfrog.supervisor"),
            60,
            "the supervisor's exit event",
        )
        logs.wait(has(service="chatty", event="restarting"), 30, "the restart event")
        logs.wait(has(service="postgres", event="health", state="healthy"), 30, "a health event")
        logs.wait(
            lambda v: any("ZeroDivisionError" in str(e.get("exception", "")) for e in mine(v)),
            30,
            "the traceback as one event",
        )
        traceback = [
            e for e in mine(logs.values) if "ZeroDivisionError" in str(e.get("exception", ""))
        ]
        assert traceback[0]["message"].startswith("Traceback (most recent call last)")
        assert traceback[0]["instance"] == "chatty-1"
        logs.wait(has(message=f"json line {mark}", level="warning", order=42), 30, "JSON line")
        logs.wait(has(message=f"plain line {mark}", level="info"), 30, "the plain line")
        logs.wait(
            lambda v: any(e.get("service") == "zookeeper" and e.get("logger") for e in mine(v)),
            60,
            "a ZooKeeper log line with its logger",
        )
        logs.wait(
            lambda v: any(
                e.get("service") == "postgres"
                and "ready to accept connections" in str(e.get("message"))
                for e in mine(v)
            ),
            60,
            "PostgreSQL's ready line",
        )
        logs.wait(has(service="lb", logger="lb"), 60, "a line of the load balancer")
        logs.wait(has(service="catalog", logger="leapfrog.catalog"), 60, "a line of the catalog")

        def lines(values: list[bytes]) -> list[str]:
            return [
                line
                for value in values
                for line in value.decode(errors="replace").splitlines()
                if f"stack={stack_name}" in line
            ]

        for measurement, what in (
            ("haproxy_backend_", "HAProxy stats"),
            ("postgres_xact_commit_total", "pg_stat_database"),
            ("postgres_bgwriter_", "pg_stat_bgwriter"),
            ("zookeeper_", "ZooKeeper mntr"),
            ("leapfrog_instance_cpu_seconds_total", "the supervisor's figures"),
            ("leapfrog_instance_rss_bytes", "the supervisor's figures"),
            ("leapfrog_telemetry_events_sent_total", "the collector's own shipper"),
            ("chatty_requests_total", "the scraped Prometheus page"),
            ("consul_state_services", "the catalog's metrics"),
        ):
            metrics.wait(
                lambda v, m=measurement: any(line.startswith(m) for line in lines(v)), 60, what
            )
        restarts = [
            line
            for line in lines(metrics.values)
            if line.startswith("leapfrog_instance_restarts_total") and "instance=chatty-1" in line
        ]
        assert restarts and all("host=" in line and "service=chatty" in line for line in restarts)
    logs.close()
    metrics.close()


def test_kafka_broker_log_lines_become_events(kafka: RunningComponent, tmp_path: Path) -> None:
    """The session broker's own log, through the Kafka component's log format and the
    collector's pump, arrives in `logs` as events with the broker's logger names."""
    bootstrap = kafka.env()["KAFKA_BOOTSTRAP_SERVERS"]
    instance = f"kafka-{uuid.uuid4().hex[:8]}"
    settings = ShipperSettings.from_env(
        service="kafka", instance=instance, spool_dir=tmp_path / "spool",
        environ={"KAFKA_BOOTSTRAP_SERVERS": bootstrap},
    )  # fmt: skip
    shipper = LogShipper(settings)
    shipper.start()

    def ship(key: str, event: dict[str, object]) -> None:
        shipper.ship_to("logs", key, encode_event(event))

    pump = LogPump(ship, tmp_path / "positions.json", lambda text: None)
    fmt = kafka.component.log_format(kafka.options)
    fixed = {"service": "kafka", "instance": instance, "host": "test"}
    pump.add_file(FileSource(instance, kafka.log_path, LogAssembler(fmt, instance), fixed))
    pump.poll_once(final=True)
    shipper.close(10)
    reader = TopicReader(bootstrap, "logs")
    try:
        reader.wait(
            lambda v: any(
                e.get("instance") == instance
                and str(e.get("logger", "")).startswith("kafka.")
                and e.get("level") == "info"
                for e in _events(v)
            ),
            60,
            "a broker line with a kafka.* logger",
        )
    finally:
        reader.close()
    assert json.loads((tmp_path / "positions.json").read_text())[instance][1] > 0


def test_kafka_metrics_report_consumer_group_lag_and_broker_mbeans(kafka: RunningComponent) -> None:
    bootstrap = kafka.env()["KAFKA_BOOTSTRAP_SERVERS"]
    group = f"lag-{uuid.uuid4().hex[:8]}"
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        # Committed at offset 0 of every partition: the lag is everything in the topic.
        partitions = consumer.list_topics("logs", timeout=10).topics["logs"].partitions
        consumer.commit(
            offsets=[TopicPartition("logs", p, 0) for p in partitions], asynchronous=False
        )
    finally:
        consumer.close()
    samples = asyncio.run(kafka.component.metrics(kafka.options, kafka.where))
    by_name = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in samples}
    assert by_name[("kafka_brokers", ())] == 1
    end = by_name[("kafka_topic_end_offset", (("topic", "logs"),))]
    lag = by_name[("kafka_consumer_group_lag", (("group", group), ("topic", "logs")))]
    assert lag == end
    # The broker's own MBeans, through the JMX exporter's java agent.
    names = {s.name for s in samples}
    assert any(n.startswith("kafka_server_brokertopicmetrics") for n in names), sorted(names)[:20]
    assert any(n.startswith(("jvm_memory", "java_lang_memory")) for n in names)


def test_a_stack_with_kafka_ships_to_it_and_keeps_the_last_events_across_down(
    tmp_path: Path,
) -> None:
    """The stack's own broker receives the logs, its own log lines included; the events
    of `down` (written after the broker stopped) wait in the spool and arrive after the
    next `up`."""
    mark = uuid.uuid4().hex[:6]
    text = (
        f"name: own-{mark}\n"
        "components:\n"
        "  kafka: {topics: {logs: {partitions: 1}, metrics: {partitions: 1}}}\n"
        "services:\n"
        "  chatty:\n"
        f"    command: {PYTHON} chatty.py\n"
        "    port: 8000\n"
        f"    env: {{MARK: '{mark}'}}\n"
        "    check: {http: /}\n"
    )
    with StackDir(text, catalog=False) as stack:  # its default ports: another session's
        stack.copy_in(APPS / "chatty.py")
        started = stack.up(timeout=300)
        assert started.code == 0, started.output
        address = stack.instance("kafka-1")["address"]
        reader = TopicReader(f"{address}:9092", "logs")
        try:
            reader.wait(
                lambda v: any(
                    e.get("service") == "kafka" and str(e.get("logger", "")).startswith("kafka.")
                    for e in _events(v)
                ),
                60,
                "a broker line of the stack's own Kafka",
            )
        finally:
            reader.close()
        stopped = stack.down()
        assert stopped.code == 0, stopped.output
        again = stack.up(timeout=300)
        assert again.code == 0, again.output
        reader = TopicReader(f"{address}:9092", "logs")
        try:
            reader.wait(
                lambda v: any(
                    e.get("instance") == "kafka-1" and e.get("event") == "stopped"
                    for e in _events(v)
                ),
                60,
                "the broker's own stopped event of the first run, from the spool",
            )
        finally:
            reader.close()
