"""A real S3-compatible server for the tests: versitygw (built by scripts/s3-server.sh).

One server for a whole session, whichever tiers it runs: the `s3_server` fixture lives in
tests/conftest.py, the one conftest both the integration and the Kubernetes tier see, so
a run of both starts it once (a second start would fail to bind its fixed address, and
its requests would silently reach the first)."""

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

import pytest

from leapfrog.backup.s3 import S3Storage
from leapfrog.shared.cache import cache_dir
from leapfrog.shared.ports import free_port
from leapfrog.testing import end_process

S3_ADDRESS = "127.0.0.71"
S3_BUCKET = "leapfrog-backups"
S3_ACCESS = "leapfrog-test"
S3_SECRET = "leapfrog-test-secret"
_SCRIPT = Path(__file__).parents[1] / "scripts" / "s3-server.sh"


def versitygw() -> Path:
    match = re.search(r"^VERSION=(\S+)", _SCRIPT.read_text(), re.M)
    assert match, f"no VERSION= in {_SCRIPT}"
    binary = cache_dir() / "versitygw" / match.group(1) / "bin" / "versitygw"
    if not binary.is_file():
        pytest.fail(f"{binary} is missing: build it with scripts/s3-server.sh (make test does)")
    return binary


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((S3_ADDRESS, port), 1):
        return True
    return False


class S3Server:
    """versitygw's posix backend on a folder: stopped and started again on the same
    folder (and port), its objects stay."""

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.port = port
        self.endpoint = f"http://{S3_ADDRESS}:{port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if _listening(self.port):  # another server there: requests would reach that one
            raise RuntimeError(f"{S3_ADDRESS}:{self.port} is taken already")
        env = {**os.environ, "ROOT_ACCESS_KEY": S3_ACCESS, "ROOT_SECRET_KEY": S3_SECRET}
        (self.root / "objects").mkdir(exist_ok=True)
        with (self.root / "server.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [str(versitygw()), "--port", f"{S3_ADDRESS}:{self.port}", "--quiet", "posix",
                 str(self.root / "objects")],
                env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log_text = (self.root / "server.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"versitygw did not start: {log_text}")
            if _listening(self.port):
                return
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None:
            end_process(self.proc, timeout=10)
        self.proc = None

    def client(self) -> Any:
        import boto3  # here: the unit tier loads this module too, and never needs it

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


def running_s3_server() -> Iterator[S3Server]:
    """A versitygw on 127.0.0.71 (a free port: a second pytest process beside this one
    gets a server of its own) with the bucket made, stopped and wiped afterwards (the body
    of the session fixture)."""
    root = Path(tempfile.mkdtemp(prefix="lf-s3-"))
    server = S3Server(root, free_port(S3_ADDRESS))
    try:
        server.start()
        server.client().create_bucket(Bucket=S3_BUCKET)
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
