"""A store over the network, from options alone (`leapfrog backup ... --store-kind`):
the options that go together, and secrets that must come from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from leapfrog.backup.remote import RemoteTarget, parse_address, remote_engine
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
