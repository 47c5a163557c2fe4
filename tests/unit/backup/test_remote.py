"""A store over the network, from options alone (`leapfrog backup ... --store-kind`):
the options that go together, and secrets that must come from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from leapfrog.backup.remote import RemoteTarget, parse_address, remote_engine, store_options
from leapfrog.cli.backup import backup
from leapfrog.shared.errors import LeapfrogError


def test_an_address_is_host_and_port() -> None:
    assert parse_address("postgres.prod.svc:5432") == ("postgres.prod.svc", 5432)
    for bad in ("postgres", ":5432", "db:port", "db:70000"):
        with pytest.raises(LeapfrogError, match="is not HOST:PORT"):
            parse_address(bad)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--address", "db:5432"], "--address goes with --store-kind"),
        (["--storage", "/backups"], "--storage goes with --store-kind"),
        (["--data-dir", "/store"], "--data-dir goes with --store-kind"),
        (["--store-kind", "postgres"], "--store-kind needs --address and --storage"),
    ],
)
def test_remote_options_go_together(args: list[str], message: str) -> None:
    done = CliRunner().invoke(backup, ["run", *args])
    assert done.exit_code == 2 and message in done.output


def test_an_encrypted_store_needs_its_key_in_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LEAPFROG_BACKUP_KEY", raising=False)
    target = RemoteTarget("postgres", "db:5432", storage="/nowhere", encryption="pg-key")
    with pytest.raises(LeapfrogError, match=r"needs the secret's text in \$LEAPFROG_BACKUP_KEY"):
        remote_engine(target)


def test_where_the_history_is_kept() -> None:
    assert RemoteTarget("kafka", "k:9092", storage="/b").history_dir() == Path("/b/.history")
    given = RemoteTarget("kafka", "k:9092", storage="s3://bkt/p", history=Path("/h"))
    assert given.history_dir() == Path("/h")
    assert RemoteTarget("kafka", "k:9092", storage="s3://bkt/p").backup_options().s3 is not None


def test_a_store_kind_without_a_driver_is_refused(tmp_path: Path) -> None:
    target = RemoteTarget("lb", "lb:80", storage="s3://bkt", history=tmp_path)
    with pytest.raises(LeapfrogError, match="'lb' has no backup driver"):
        remote_engine(target)


def test_another_port_of_the_store_sets_its_option() -> None:
    """`--port rpc=9088`: InfluxDB's `rpc_port` (what `influxd backup|restore` speak);
    a name the component has no port of is a sentence naming the ones it has."""
    given = RemoteTarget("influxdb", "influx:8186", ports={"rpc": 9088})
    options = store_options(given, 8186)
    assert (options.port, options.rpc_port) == (8186, 9088)
    assert store_options(RemoteTarget("zookeeper", "zk:2181", ports={"admin": 8081}),
                         2181).admin_port == 8081  # fmt: skip
    wrong = RemoteTarget("influxdb", "influx:8186", ports={"admin": 1})
    with pytest.raises(LeapfrogError, match="influxdb has no admin port") as found:
        store_options(wrong, 8186)
    assert found.value.hint == "its other ports: rpc"
    done = CliRunner().invoke(
        backup, ["run", "--store-kind", "influxdb", "--address", "i:1", "--storage", "/b",
                 "--port", "rpc"],
    )  # fmt: skip
    assert done.exit_code == 2 and "--port rpc: give NAME=PORT" in done.output


def test_a_remote_store_is_installed_only_when_a_step_needs_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Job's image has no JVM: a ZooKeeper backup (HTTP to the AdminServer) must not
    install ZooKeeper; a scratch server's step gets the installation on first use, once."""
    from leapfrog.components.base import Installation
    from leapfrog.components.zookeeper import ZooKeeper

    calls: list[str] = []

    def install(_self: object, options: object, _cache: Path, _progress: object) -> Installation:
        calls.append("install")
        return Installation("3.9", tmp_path)

    monkeypatch.setattr(ZooKeeper, "install", install)
    target = RemoteTarget("zookeeper", "zk:2181", storage=str(tmp_path / "b"))
    store = remote_engine(target).store
    assert calls == []
    assert store.installation.version == "3.9"
    assert store.installation is store.installation
    assert calls == ["install"]
