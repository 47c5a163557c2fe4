from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from leapfrog.backup import DirectoryStorage, Engine, Limits, RunRecord, Store, driver_for
from leapfrog.backup.s3 import S3Storage
from leapfrog.shared.cache import cache_dir
from leapfrog.testing import RunningComponent, run_component, wait_until

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


# -- a real S3-compatible server: versitygw (built by scripts/s3-server.sh) ---------------
S3_ADDRESS = "127.0.0.71"
S3_PORT = 7071
S3_BUCKET = "leapfrog-backups"
S3_ACCESS = "leapfrog-test"
S3_SECRET = "leapfrog-test-secret"
_SCRIPT = Path(__file__).parents[3] / "scripts" / "s3-server.sh"


def versitygw() -> Path:
    match = re.search(r"^VERSION=(\S+)", _SCRIPT.read_text(), re.M)
    assert match, f"no VERSION= in {_SCRIPT}"
    binary = cache_dir() / "versitygw" / match.group(1) / "bin" / "versitygw"
    if not binary.is_file():
        pytest.fail(f"{binary} is missing: build it with scripts/s3-server.sh (make test does)")
    return binary


class S3Server:
    """versitygw's posix backend on a folder: stopped and started again on the same
    folder, its objects stay."""

    endpoint = f"http://{S3_ADDRESS}:{S3_PORT}"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "ROOT_ACCESS_KEY": S3_ACCESS, "ROOT_SECRET_KEY": S3_SECRET}
        (self.root / "objects").mkdir(exist_ok=True)
        with (self.root / "server.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [str(versitygw()), "--port", f"{S3_ADDRESS}:{S3_PORT}", "--quiet", "posix",
                 str(self.root / "objects")],
                env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection((S3_ADDRESS, S3_PORT), 1):
                return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log_text = (self.root / "server.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"versitygw did not start: {log_text}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=S3_ACCESS,
            aws_secret_access_key=S3_SECRET,
            region_name="us-east-1",
        )

    def storage(self, prefix: str | None = None, part_size: int = 5 << 20) -> S3Storage:
        """An S3 storage under a prefix of its own (a fresh one by default)."""
        return S3Storage(
            S3_BUCKET,
            prefix if prefix is not None else f"t-{uuid.uuid4().hex[:12]}",
            endpoint=self.endpoint,
            access_key=S3_ACCESS,
            secret_key=S3_SECRET,
            part_size=part_size,
        )


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """One versitygw for the session on 127.0.0.71:7071, with the bucket made."""
    root = Path(tempfile.mkdtemp(prefix="lf-s3-"))
    server = S3Server(root)
    server.start()
    try:
        client = server.client()
        # The Kubernetes tier imports this fixture too, so a session that runs both tiers
        # finds the bucket made already.
        with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
            client.create_bucket(Bucket=S3_BUCKET)
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


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

    def stop_mid_write(what, done):
        if done >= raw["stop_after"]:
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
