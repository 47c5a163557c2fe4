"""ZooKeeper's options, generated files, process and probe parsing, without running it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from leapfrog.components import component
from leapfrog.components._jvm import with_archive_flags
from leapfrog.components.base import Installation, Instance
from leapfrog.components.zookeeper import ZooKeeper, ZooKeeperOptions, training_options

INSTALLATION = Installation(
    version="3.9.5",
    home=Path("/cache/maven/sets/zookeeper"),
    extra={"java": "/usr/bin/java", "argfile": "/cache/zk.args", "classpath": "/a.jar"},
)


def where(data_dir: Path, port: int = 2181) -> Instance:
    return Instance(
        name="zookeeper",
        instance="zookeeper-1",
        address="127.0.0.1",
        port=port,
        data_dir=data_dir,
        secrets_dir=data_dir / "secrets",
        cache_dir=Path("/cache"),
    )


def options(**raw: object) -> ZooKeeperOptions:
    return ZooKeeper().options(raw)


def test_the_registry_knows_zookeeper() -> None:
    assert isinstance(component("zookeeper"), ZooKeeper)


@pytest.mark.parametrize(
    ("raw", "complaint"),
    [
        ({"version": "3.8.4"}, "String should match pattern"),
        ({"admin_port": 0}, "greater than or equal to 1"),
        ({"tick_time": 10}, "greater than or equal to 100"),
        ({"heap": "256"}, "String should match pattern"),
        ({"clientPort": 1}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_options_are_refused_with_a_reason(raw: dict[str, object], complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        options(**raw)


def test_zoo_cfg_binds_client_and_admin_ports_to_the_instance_address(tmp_path: Path) -> None:
    process = ZooKeeper().process(
        options(admin_port=8181, tick_time=500), INSTALLATION, where(tmp_path)
    )
    cfg = dict(
        line.split("=", 1)
        for line in process.files["zoo.cfg"].splitlines()
        if line and not line.startswith("#")
    )
    assert cfg["clientPortAddress"] == "127.0.0.1"
    assert cfg["clientPort"] == "2181"
    assert (cfg["admin.enableServer"], cfg["admin.serverAddress"]) == ("true", "127.0.0.1")
    assert cfg["admin.serverPort"] == "8181"
    assert cfg["tickTime"] == "500"
    assert {"ruok", "srvr", "mntr"} <= set(cfg["4lw.commands.whitelist"].split(","))
    assert Path(cfg["dataDir"]).is_relative_to(tmp_path)


def test_the_process_runs_quorum_peer_main_with_its_logging_config(tmp_path: Path) -> None:
    process = ZooKeeper().process(options(heap="128m"), INSTALLATION, where(tmp_path))
    assert process.argv[0] == "/usr/bin/java"
    assert "-Xmx128m" in process.argv
    assert "@/cache/zk.args" in process.argv
    assert process.argv[-2:] == (
        "org.apache.zookeeper.server.quorum.QuorumPeerMain",
        str(tmp_path / "zoo.cfg"),
    )
    assert f"-Dlogback.configurationFile={tmp_path / 'logback.xml'}" in process.argv
    assert "ConsoleAppender" in process.files["logback.xml"]


def test_the_server_uses_its_archive_only_when_installed(tmp_path: Path) -> None:
    plain = ZooKeeper().process(options(), INSTALLATION, where(tmp_path)).argv
    assert not [arg for arg in plain if "Archive" in arg]
    installation = with_archive_flags(INSTALLATION, {"server": "-XX:SharedArchiveFile=/c/z.jsa"})
    argv = ZooKeeper().process(options(), installation, where(tmp_path)).argv
    flag = argv.index("-XX:SharedArchiveFile=/c/z.jsa")
    assert flag < argv.index("org.apache.zookeeper.server.quorum.QuorumPeerMain")
    assert "-Xshare:auto" in argv


def test_training_runs_on_free_ports_with_the_stack_options() -> None:
    trained = training_options(options(tick_time=500))
    assert trained.port != trained.admin_port
    assert trained.tick_time == 500


def test_services_get_the_connect_string(tmp_path: Path) -> None:
    assert ZooKeeper().connection_env(options(), where(tmp_path)) == {
        "ZOOKEEPER_CONNECT": "127.0.0.1:2181"
    }


class FakeZooKeeper:
    """A socket that answers four-letter words the way ZooKeeper does, then closes."""

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        word = (await reader.read(4)).decode()
        writer.write(self.answers.get(word, "").encode())
        await writer.drain()
        writer.close()


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    made = asyncio.new_event_loop()
    yield made
    made.close()


SERVING = "Zookeeper version: 3.9.5\nMode: standalone\nNode count: 7\n"
NOT_SERVING = "This ZooKeeper instance is not currently serving requests\n"


@pytest.mark.parametrize(
    ("answers", "ok", "detail"),
    [
        ({"ruok": "imok", "srvr": SERVING}, True, "standalone, 7 znodes"),
        ({"ruok": "imok", "srvr": NOT_SERVING}, False, "not currently serving"),
        ({}, False, "ruok: no answer"),
    ],
)
def test_health_reads_ruok_and_srvr(
    loop: asyncio.AbstractEventLoop, tmp_path: Path, answers: dict[str, str], ok: bool, detail: str
) -> None:
    async def probe() -> tuple[bool, str]:
        server = await asyncio.start_server(FakeZooKeeper(answers).handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            health = await ZooKeeper().health(options(), where(tmp_path, port))
        return health.ok, health.detail

    seen_ok, seen_detail = loop.run_until_complete(probe())
    assert seen_ok is ok
    assert detail in seen_detail


def test_health_of_nothing_listening_is_unhealthy(
    loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    health = loop.run_until_complete(ZooKeeper().health(options(), where(tmp_path, 1)))
    assert not health.ok
    assert "127.0.0.1:1" in health.detail


def test_zoo_cfg_enables_the_snapshot_command_with_its_rate_limit_in_microseconds(
    tmp_path: Path,
) -> None:
    process = ZooKeeper().process(
        options(snapshot_interval_ms=60_000), INSTALLATION, where(tmp_path)
    )
    cfg = dict(line.split("=", 1) for line in process.files["zoo.cfg"].splitlines() if "=" in line)
    assert cfg["admin.snapshot.enabled"] == "true"
    assert cfg["serializeLastProcessedZxid.enabled"] == "true"
    # ZooKeeper 3.9 reads this "InMS" value as microseconds.
    assert cfg["admin.rateLimiterIntervalInMS"] == "60000000"
