from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from leapfrog.backup import DirectoryStorage, Engine, Limits, Store, driver_for
from leapfrog.backup.s3 import S3Storage
from leapfrog.shared.cache import cache_dir
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
        server.client().create_bucket(Bucket=S3_BUCKET)
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
