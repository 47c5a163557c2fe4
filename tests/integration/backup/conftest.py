from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from leapfrog.backup import DirectoryStorage, Engine, Limits, Store, driver_for
from leapfrog.testing import RunningComponent, run_component

ADDRESS = "127.0.0.57"
OPTIONS: dict[str, Any] = {
    "databases": {"shop": {}},
    "backups": {"archive_timeout": 0},
}


@pytest.fixture(scope="session")
def pg() -> Iterator[RunningComponent]:
    """One real PostgreSQL for the session, archiving its WAL into `<base>/backups`."""
    base = Path(tempfile.mkdtemp(prefix="lf-backup-pg-"))
    base.chmod(0o755)
    with run_component("postgres", OPTIONS, base, address=ADDRESS) as running:
        yield running
    shutil.rmtree(base, ignore_errors=True)


def make_engine(running: RunningComponent, limits: Limits | None = None) -> Engine:
    """The engine for a component run by the tests, backing up into `<base>/backups`."""
    kind = running.component.kind
    root = running.where.data_dir.parent.parent / "backups"
    store = Store(kind, running.component, running.options, running.where, running.installation)
    return Engine(store, driver_for(kind), DirectoryStorage(root), root, limits or Limits())


@contextlib.contextmanager
def own_component(kind: str, options: dict[str, Any], address: str) -> Iterator[RunningComponent]:
    """A server of the tests' own (they stop and wipe it), removed afterwards."""
    base = Path(tempfile.mkdtemp(prefix=f"lf-backup-{kind}-"))
    base.chmod(0o755)
    with run_component(kind, options, base, address=address) as running:
        yield running
    shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def one_byte_flipped(engine: Engine, backup_id: str, name: str) -> Iterator[None]:
    """One byte in the middle of a stored object flipped, and put back afterwards."""
    path = engine.storage.local_path(f"{engine.store.name}/backups/{backup_id}/{name}")
    assert path is not None
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    try:
        yield
    finally:
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
