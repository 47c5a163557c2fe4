"""Kafka's options, generated files and process, without running Kafka."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pydantic import ValidationError

from leapfrog.components import component
from leapfrog.components._jvm import with_archive_flags
from leapfrog.components.base import Installation, Instance
from leapfrog.components.kafka import (
    CLUSTER_ID,
    Kafka,
    KafkaOptions,
    new_cluster_id,
    training_options,
)

INSTALLATION = Installation(
    version="4.4.0",
    home=Path("/cache/maven/sets/kafka"),
    extra={"java": "/usr/bin/java", "argfile": "/cache/kafka.args", "classpath": "/a.jar"},
)


def where(data_dir: Path) -> Instance:
    return Instance(
        name="kafka",
        instance="kafka-1",
        address="127.0.0.7",
        port=9092,
        data_dir=data_dir,
        secrets_dir=data_dir / "secrets",
        cache_dir=Path("/cache"),
    )


def options(**raw: object) -> KafkaOptions:
    return Kafka().options(raw)


def test_the_registry_knows_kafka() -> None:
    assert isinstance(component("kafka"), Kafka)


def test_defaults() -> None:
    opts = options()
    assert (opts.port, opts.controller_port, opts.heap) == (9092, 9093, "512m")
    assert opts.log_retention == 7 * 86_400_000
    assert opts.topics == {}


@pytest.mark.parametrize(
    ("given", "ms"), [("7d", 604_800_000), ("24h", 86_400_000), ("90m", 5_400_000), (-1, -1)]
)
def test_retention_takes_durations_days_and_forever(given: object, ms: int) -> None:
    opts = options(topics={"orders": {"retention": given}})
    assert opts.topics["orders"].retention == ms


@pytest.mark.parametrize(
    ("raw", "complaint"),
    [
        ({"topics": {"t": {"retention": "a week"}}}, "duration such as 7d"),
        ({"topics": {"t": {"retention": "0s"}}}, "longer than 0"),
        ({"topics": {"t": {"partitions": 0}}}, "greater than or equal to 1"),
        ({"topics": {"t": {"cleanup_policy": "shred"}}}, "should be 'delete', 'compact'"),
        ({"topics": {"t": {"replication_factor": 3}}}, "less than or equal to 1"),
        ({"topics": {"t": {"partitons": 3}}}, "Extra inputs are not permitted"),
        ({"heap": "lots"}, "String should match pattern"),
        ({"version": "3.9.0"}, "String should match pattern"),
        ({"port": 70000}, "less than or equal to 65535"),
    ],
)
def test_invalid_options_are_refused_with_a_reason(raw: dict[str, object], complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        options(**raw)


def test_topic_config_holds_what_the_stack_file_declares() -> None:
    opts = options(
        topics={
            "orders": {"retention": "1d", "cleanup_policy": "compact", "config": {"a.b": "1"}},
            "events": {},
        }
    )
    assert opts.topics["orders"].topic_config() == {
        "cleanup.policy": "compact",
        "retention.ms": "86400000",
        "a.b": "1",
    }
    assert opts.topics["events"].topic_config() == {"cleanup.policy": "delete"}


def test_server_properties_listen_on_the_instance_address_only(tmp_path: Path) -> None:
    process = Kafka().process(options(controller_port=9193), INSTALLATION, where(tmp_path))
    props = dict(
        line.split("=", 1)
        for line in process.files["server.properties"].splitlines()
        if line and not line.startswith("#")
    )
    assert props["process.roles"] == "broker,controller"
    assert props["listeners"] == "PLAINTEXT://127.0.0.7:9092,CONTROLLER://127.0.0.7:9193"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.7:9092"
    assert props["controller.quorum.voters"] == "1@127.0.0.7:9193"
    assert Path(props["log.dirs"]).is_relative_to(tmp_path)
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["log.retention.ms"] == "604800000"


def test_the_process_runs_the_broker_from_the_resolved_jars(tmp_path: Path) -> None:
    process = Kafka().process(options(heap="1g"), INSTALLATION, where(tmp_path))
    argv = process.argv
    assert argv[0] == "/usr/bin/java"
    assert "-Xmx1g" in argv
    assert "@/cache/kafka.args" in argv
    assert argv[-2:] == ("kafka.Kafka", str(tmp_path / "server.properties"))
    assert f"-Dlog4j2.configurationFile={tmp_path / 'log4j2.properties'}" in argv
    assert "Console" in process.files["log4j2.properties"]
    assert process.stop_signal == "SIGTERM"
    assert process.start_timeout >= 60


def run_format_step(tmp_path: Path) -> str:
    """Run the init step with `echo` for java: what it would start, or "" for nothing."""
    fake = Installation(
        INSTALLATION.version, INSTALLATION.home, {**INSTALLATION.extra, "java": "/bin/echo"}
    )
    (init,) = Kafka().process(options(), fake, where(tmp_path)).init
    result = subprocess.run(init, capture_output=True, text=True, check=True, timeout=10)
    return result.stdout.strip()


def test_storage_is_formatted_with_the_kept_cluster_id_only_when_not_formatted_yet(
    tmp_path: Path,
) -> None:
    (tmp_path / CLUSTER_ID).write_text("AAAAAAAAAAAAAAAAAAAAAA\n")
    started = run_format_step(tmp_path)
    assert "kafka.tools.StorageTool format --ignore-formatted" in started
    assert started.endswith(f"-c {tmp_path / 'server.properties'} -t AAAAAAAAAAAAAAAAAAAAAA")
    (tmp_path / "kraft-logs").mkdir()
    (tmp_path / "kraft-logs" / "meta.properties").write_text("")
    assert run_format_step(tmp_path) == ""


def test_without_archives_no_jvm_is_given_one(tmp_path: Path) -> None:
    process = Kafka().process(options(), INSTALLATION, where(tmp_path))
    (init,) = process.init
    assert not [arg for arg in (*init, *process.argv) if "Archive" in arg]
    assert "-Xshare:auto" in init and "-Xshare:auto" in process.argv


def test_the_format_step_and_the_broker_each_use_their_own_archive(tmp_path: Path) -> None:
    installation = with_archive_flags(
        INSTALLATION,
        {"format": "-XX:SharedArchiveFile=/c/f.jsa", "broker": "-XX:SharedArchiveFile=/c/b.jsa"},
    )
    process = Kafka().process(options(), installation, where(tmp_path))
    (init,) = process.init
    assert "-XX:SharedArchiveFile=/c/f.jsa" in init
    assert "-XX:SharedArchiveFile=/c/b.jsa" not in init
    # JVM options go before the main class, or Java hands them to the program.
    broker = process.argv.index("-XX:SharedArchiveFile=/c/b.jsa")
    assert broker < process.argv.index("kafka.Kafka")
    assert "-XX:SharedArchiveFile=/c/f.jsa" not in process.argv


def test_training_runs_on_free_ports_with_the_stack_options() -> None:
    given = options(heap="1g", topics={"orders": {}})
    trained = training_options(given)
    assert trained.port != trained.controller_port
    assert (trained.heap, trained.topics) == (given.heap, given.topics)


def test_the_cluster_id_is_made_once_and_then_kept(tmp_path: Path) -> None:
    first = Kafka().process(options(), INSTALLATION, where(tmp_path)).files[CLUSTER_ID]
    assert len(first) == 22 and not first.startswith("-")
    (tmp_path / CLUSTER_ID).write_text(first + "\n")
    again = Kafka().process(options(), INSTALLATION, where(tmp_path)).files[CLUSTER_ID]
    assert again == first
    assert len({new_cluster_id() for _ in range(50)}) == 50


def test_services_get_the_bootstrap_servers(tmp_path: Path) -> None:
    env = Kafka().connection_env(options(), where(tmp_path))
    assert env == {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.7:9092"}
