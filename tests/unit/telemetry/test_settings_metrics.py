"""Settings from the environment, and the shipper's counters as Prometheus metrics."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from leapfrog.shared.errors import LeapfrogError
from leapfrog.telemetry import LogShipper, MetricsPublisher, ShipperSettings, register_metrics
from tests.unit.telemetry.fake import FakeTransport, wait_for
from tests.unit.telemetry.lineparse import parse


def test_defaults_without_kafka_disable_shipping(tmp_path: Path) -> None:
    s = ShipperSettings.from_env(service="a", instance="a-1", spool_dir=tmp_path, environ={})
    assert not s.enabled
    assert (s.log_topic, s.metrics_topic, s.buffer_size) == ("logs", "metrics", 10_000)
    assert s.spool_dir == tmp_path
    assert s.compression == "lz4"


def test_every_variable_is_read() -> None:
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.9:9092",
        "LEAPFROG_LOG_TOPIC": "l",
        "LEAPFROG_METRICS_TOPIC": "m",
        "LEAPFROG_LOG_BUFFER": "50",
        "LEAPFROG_SPOOL_DIR": "/var/spool/x",
        "LEAPFROG_SPOOL_MAX_BYTES": "1_000_000",
        "LEAPFROG_SPOOL_SEGMENT_BYTES": "100000",
        "LEAPFROG_SPOOL_FSYNC_MS": "250",
        "LEAPFROG_LOG_COMPRESSION": "zstd",
        "LEAPFROG_LOG_LINGER_MS": "7",
        "LEAPFROG_LOG_DETECT_MS": "3000",
        "LEAPFROG_LOG_MESSAGE_TIMEOUT_MS": "60000",
        "LEAPFROG_KAFKA_SASL_PASSWORD": "hunter2",
    }
    s = ShipperSettings.from_env(service="a", instance="a-1", environ=env)
    assert s.enabled
    assert (s.bootstrap_servers, s.log_topic, s.metrics_topic) == ("127.0.0.9:9092", "l", "m")
    assert (s.buffer_size, s.spool_dir, s.spool_max_bytes) == (50, Path("/var/spool/x"), 10**6)
    assert (s.spool_segment_bytes, s.spool_fsync_interval, s.compression) == (100000, 0.25, "zstd")
    assert (s.linger_ms, s.detect_timeout, s.message_timeout_ms) == (7, 3.0, 60000)
    assert s.kafka_options == {"sasl.password": "hunter2"}
    assert "hunter2" not in repr(s)


def test_bad_values_name_the_variable() -> None:
    with pytest.raises(LeapfrogError, match="LEAPFROG_LOG_BUFFER"):
        ShipperSettings.from_env(service="a", instance="a-1", environ={"LEAPFROG_LOG_BUFFER": "x"})
    with pytest.raises(LeapfrogError, match=r"enable\.idempotence"):
        ShipperSettings.from_env(
            service="a", instance="a-1", environ={"LEAPFROG_KAFKA_ENABLE_IDEMPOTENCE": "false"}
        )


def test_a_rejected_kafka_option_is_an_error_without_its_value() -> None:
    s = ShipperSettings(
        service="a",
        instance="a-1",
        bootstrap_servers="127.0.0.1:1",
        kafka_options={"batch.num.messages": "s3cret-value"},
    )
    with pytest.raises(LeapfrogError, match=r"batch\.num\.messages") as raised:
        LogShipper(s).start()
    assert "s3cret-value" not in str(raised.value)


def test_option_values_never_reach_the_log(caplog: pytest.LogCaptureFixture) -> None:
    s = ShipperSettings(
        service="a",
        instance="a-1",
        bootstrap_servers="127.0.0.1:1",
        kafka_options={"sasl.mechanism": "s3cret-mech", "sasl.password": "hunter2-pw"},
    )
    shipper = LogShipper(s)
    caplog.set_level(logging.DEBUG)
    shipper.start()
    wait_for(lambda: not shipper.kafka_reachable)
    shipper.close(timeout=0.1)
    assert "sasl.mechanism" in caplog.text  # librdkafka warned about it...
    assert "s3cret-mech" not in caplog.text  # ...without its value
    assert "hunter2-pw" not in caplog.text


def test_counters_are_prometheus_metrics() -> None:
    fake = FakeTransport()
    s = ShipperSettings(service="a", instance="a-1", host="h", bootstrap_servers="x:1")
    shipper = LogShipper(s, transport=fake)
    registry = CollectorRegistry()
    register_metrics(shipper, registry)
    shipper.start()
    shipper.ship({"n": 1})
    shipper.close(timeout=5)
    shipper.ship({"n": 2})
    text = generate_latest(registry).decode()
    assert "leapfrog_telemetry_events_sent_total 1.0" in text
    assert "leapfrog_telemetry_events_dropped_total 1.0" in text
    assert "leapfrog_telemetry_kafka_reachable 1.0" in text


def test_the_publisher_ships_a_registry_snapshot_as_lines() -> None:
    fake = FakeTransport()
    s = ShipperSettings(service="a", instance="a-1", host="h", bootstrap_servers="x:1")
    shipper = LogShipper(s, transport=fake)
    registry = CollectorRegistry()
    register_metrics(shipper, registry)
    publisher = MetricsPublisher(shipper, registry, interval=0.05, measurement_prefix="p_")
    shipper.start()
    publisher.start()
    publisher.close()
    shipper.close(timeout=5)
    snapshots = fake.values("metrics")
    assert snapshots
    lines = [parse(x) for x in snapshots[-1].decode().splitlines()]
    names = {m for m, _t, _f, _ts in lines}
    assert "p_leapfrog_telemetry_events_sent_total" in names
    assert all(t == {"service": "a", "instance": "a-1", "host": "h"} for _m, t, _f, _ts in lines)


def test_the_publisher_takes_ready_lines_from_a_function() -> None:
    fake = FakeTransport()
    s = ShipperSettings(service="a", instance="a-1", bootstrap_servers="x:1")
    shipper = LogShipper(s, transport=fake)
    publisher = MetricsPublisher(shipper, lambda: ["a value=1.0 1", "b value=2.0 1"])
    assert publisher.publish() == 2
    shipper.start()
    shipper.close(timeout=5)
    assert fake.values("metrics") == [b"a value=1.0 1\nb value=2.0 1"]
