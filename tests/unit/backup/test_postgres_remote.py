"""A PostgreSQL reached over the network (a backup Job on Kubernetes): a physical
backup makes the archive folder in the claim its server archives into, or says why it
cannot; a physical restore needs the server's data claim mounted."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from leapfrog.backup import DirectoryStorage, Store
from leapfrog.backup.control import RunControl
from leapfrog.backup.driver import BackupError
from leapfrog.backup.postgres import PostgresDriver
from leapfrog.components import component
from leapfrog.components.base import Installation, Instance
from leapfrog.components.postgres import PostgresBackupOptions


def remote(tmp_path: Path, backups: PostgresBackupOptions, mounted: bool = False) -> Store:
    where = Instance(
        "postgres", "postgres", "127.0.0.1", 1, tmp_path / "work" / "data", tmp_path, tmp_path
    )
    options = SimpleNamespace(backups=backups)
    return Store(
        "postgres",
        component("postgres"),
        options,
        where,
        Installation("17", tmp_path),
        remote=True,
        server_data_dir=Path("/var/lib/postgresql/data") if mounted else None,
    )


def test_a_physical_backup_starts_the_archive_in_the_claim(tmp_path: Path) -> None:
    claim = tmp_path / "claim"
    store = remote(tmp_path, PostgresBackupOptions(storage=str(claim)))
    storage: Any = PostgresDriver()._ensure_archive(store)
    assert (claim / "postgres" / "wal").is_dir()
    assert storage.description == DirectoryStorage(claim).description


@pytest.mark.parametrize(
    "backups",
    [
        PostgresBackupOptions(storage="s3://bucket/pg"),
        PostgresBackupOptions(storage="/backups", encryption="pg-key"),
    ],
)
def test_a_physical_backup_the_server_cannot_archive_for_says_so(
    tmp_path: Path, backups: PostgresBackupOptions
) -> None:
    with pytest.raises(BackupError) as caught:
        PostgresDriver()._ensure_archive(remote(tmp_path, backups))
    assert "into a volume claim only, unencrypted" in str(caught.value)
    assert "store.mode: logical" in str(caught.value.hint)


def test_a_physical_restore_without_the_data_claim_is_refused(tmp_path: Path) -> None:
    store = remote(tmp_path, PostgresBackupOptions(storage=str(tmp_path / "claim")))
    source: Any = SimpleNamespace(manifest=SimpleNamespace(mode="physical"))
    with pytest.raises(BackupError) as caught:
        PostgresDriver().restore(
            store,
            source,
            DirectoryStorage(tmp_path),
            None,
            RunControl(deadline=None, stall_after=None),
        )
    assert "no data claim is mounted" in str(caught.value)
    assert not (tmp_path / "work" / "data" / "pgdata").exists()  # nothing touched
