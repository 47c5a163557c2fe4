from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from leapfrog.backup import DirectoryStorage, Engine, Limits, RunRecord, Store, driver_for
from leapfrog.testing import RunningComponent, run_component, scratch_dir, wait_until

ADDRESS = "127.0.0.57"
OPTIONS: dict[str, Any] = {
    "databases": {"shop": {}},
    "backups": {"archive_timeout": 0},
}


@pytest.fixture(scope="package")
def pg() -> Iterator[RunningComponent]:
    """One real PostgreSQL for the backup tests (stopped when they end), archiving its WAL
    into `<base>/backups`."""
    with (
        scratch_dir("lf-backup-pg-") as base,
        run_component("postgres", OPTIONS, base, address=ADDRESS) as running,
    ):
        yield running


def make_engine(
    running: RunningComponent, limits: Limits | None = None, only: tuple[str, ...] = ()
) -> Engine:
    """The engine for a component run by the tests, backing up into `<base>/backups`;
    `only`: the driver limited to those names (what `--topic` and its kind do)."""
    kind = running.component.kind
    root = running.where.data_dir.parent.parent / "backups"
    store = Store(kind, running.component, running.options, running.where, running.installation)
    driver = driver_for(kind, only)
    return Engine(store, driver, DirectoryStorage(root), root, limits or Limits())


@contextlib.contextmanager
def own_component(kind: str, options: dict[str, Any], address: str) -> Iterator[RunningComponent]:
    """A server of the tests' own (they stop and wipe it), removed afterwards."""
    with (
        scratch_dir(f"lf-backup-{kind}-") as base,
        run_component(kind, options, base, address=address) as running,
    ):
        yield running


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


# A backup run in a process of its own, for kill -9: it stops itself (SIGSTOP) once
# `stop_after` bytes went into the storage, so the kill lands mid-write every time,
# whatever the machine's speed; the test then kills it with SIGKILL.
_KILLABLE = textwrap.dedent(
    """
    import json, os, signal, sys
    from pathlib import Path
    from leapfrog.backup import DirectoryStorage, Engine, Limits, Store, driver_for
    from leapfrog.components import component
    from leapfrog.components.base import Installation, Instance

    raw = json.loads(sys.argv[1])
    comp = component(raw["kind"])
    paths = ("data_dir", "secrets_dir", "cache_dir")
    fields = {k: Path(v) if k in paths else v for k, v in raw["where"].items()}
    fields["run_as"] = tuple(fields["run_as"]) if fields["run_as"] else None
    where = Instance(**fields)
    installation = Installation(version=raw["version"], home=Path(raw["home"]),
        extra=raw["extra"])
    store = Store(raw["kind"], comp, comp.options(raw["options"]), where, installation)
    root = Path(raw["root"])

    backups = root / raw["kind"] / "backups"
    before = set(backups.glob("*"))

    def written():  # bytes of this run in the storage, not just read from the store
        return any(f.is_file() and f.stat().st_size
                   for run in set(backups.glob("*")) - before for f in run.rglob("*"))

    def stop_mid_write(what, done):
        if done >= raw["stop_after"] and written():
            os.kill(os.getpid(), signal.SIGSTOP)

    engine = Engine(store, driver_for(raw["kind"]), DirectoryStorage(root), root, Limits(),
        stop_mid_write)
    engine.run_backup()
    """
)


def _children(pid: int) -> set[int]:
    """Every process started by `pid`, and theirs."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            for child in (task / "children").read_text().split():
                found |= {int(child)} | _children(int(child))
    return found


@dataclasses.dataclass(frozen=True)
class Killed:
    record: RunRecord
    """The killed run, as the history tells it afterwards."""
    leftovers: Path
    """Its folder in the storage: the objects it had written or was writing."""


def kill_9_mid_run(running: RunningComponent, engine: Engine, stop_after: int) -> Killed:
    """A backup of `running` in a child process, SIGKILLed while it writes its objects
    (after `stop_after` bytes); the programs it started must die with it."""
    where = dataclasses.asdict(running.where)
    raw = {
        "kind": running.component.kind,
        "where": {k: str(v) if isinstance(v, Path) else v for k, v in where.items()},
        "version": running.installation.version,
        "home": str(running.installation.home),
        "extra": dict(running.installation.extra),
        "options": running.options.model_dump(mode="json"),
        "root": str(engine.state_dir),
        "stop_after": stop_after,
    }
    proc = subprocess.Popen([sys.executable, "-c", _KILLABLE, json.dumps(raw)])
    try:
        _, status = os.waitpid(proc.pid, os.WUNTRACED)
        assert os.WIFSTOPPED(status), f"the backup ended before writing {stop_after} bytes"
        started = _children(proc.pid)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    wait_until(lambda: not any(Path(f"/proc/{pid}").exists() for pid in started), timeout=30)
    record = next(r for r in engine.history.records() if r.pid == proc.pid)
    leftovers = engine.state_dir / running.component.kind / "backups" / record.id
    return Killed(record, leftovers)


def assert_killed_run_is_failed_and_the_next_succeeds(engine: Engine, killed: Killed) -> None:
    """The issue's rule for a kill -9: failed, its objects never listed, the next run
    succeeds and removes them."""
    assert killed.record.state == "failed"
    assert "ended mid-run" in killed.record.reason
    assert killed.record.id not in {m.id for m in engine.backups()}
    assert any(killed.leftovers.iterdir())  # what it had written is there ...
    count = len(engine.backups())
    again = engine.run_backup()
    assert again.state == "succeeded", again.reason
    assert len(engine.backups()) == count + 1
    assert not killed.leftovers.exists()  # ... and removed by the next run
    temp = engine.state_dir / engine.store.name / "tmp"
    assert not any(temp.iterdir())  # nor is any temporary copy of the store's data left
