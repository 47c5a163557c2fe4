"""The storage contract (storage.py), the same tests for every storage: a directory and
S3 (a real versitygw). Objects are atomic: a writer that fails or is killed mid-stream
leaves nothing visible, and `abandon` removes what it left."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from leapfrog.backup import DirectoryStorage, Storage, StorageError
from leapfrog.backup.s3 import S3Storage
from tests.s3_server import S3_ACCESS, S3_ADDRESS, S3_BUCKET, S3_SECRET, S3Server

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

PART = 5 << 20
"""S3's smallest part: objects past it are multipart uploads."""


@pytest.fixture(params=["directory", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "directory":
        return DirectoryStorage(tmp_path / "store")
    server: S3Server = request.getfixturevalue("s3_server")
    return server.storage(part_size=PART)


def chunks(data: bytes, size: int = 1 << 20) -> Iterator[bytes]:
    for at in range(0, len(data), size):
        yield data[at : at + size]


def test_put_get_keys_delete(storage: Storage) -> None:
    storage.check()
    objects = {
        "pg/backups/b1/base.tar.zst": os.urandom(3000),
        "pg/backups/b1/manifest.json": b'{"id": "b1"}',
        "pg/backups/b2/manifest.json": b"",
        "pg/wal/000000010000000000000001": b"w" * 100,
        "zk/backups/b9/snapshot": b"z",
    }
    for key, data in objects.items():
        assert storage.put(key, chunks(data, 700)) == len(data)
    for key, data in objects.items():
        assert b"".join(storage.get(key)) == data
    assert storage.keys("pg/backups/") == sorted(k for k in objects if "backups" in k)[:3]
    assert storage.keys("") == sorted(objects)
    assert storage.keys("nothing/") == []
    storage.put("pg/backups/b1/manifest.json", [b"replaced"])
    assert b"".join(storage.get("pg/backups/b1/manifest.json")) == b"replaced"
    storage.delete("pg/backups/b1/base.tar.zst")
    storage.delete("pg/backups/b1/base.tar.zst")  # gone already is fine
    assert "pg/backups/b1/base.tar.zst" not in storage.keys("pg/")
    with pytest.raises(StorageError):
        b"".join(storage.get("pg/backups/b1/base.tar.zst"))
    for bad in ("", "a//b", "../x", "a/./b"):
        with pytest.raises(StorageError, match="bad object key"):
            storage.put(bad, [b"x"])


def test_a_large_object_streams_in_parts_and_reads_back(storage: Storage) -> None:
    data = os.urandom(2 * PART + 12345)
    assert storage.put("big/object", chunks(data)) == len(data)
    assert storage.keys("big/") == ["big/object"]
    got = list(storage.get("big/object"))
    assert b"".join(got) == data
    assert max(len(c) for c in got) <= 1 << 20  # streamed, not read whole
    assert storage.abandon("big/") == []


class Boom(Exception):
    pass


@pytest.mark.parametrize("size", [1000, 2 * PART + 10])
def test_a_put_that_fails_mid_stream_leaves_nothing_visible(storage: Storage, size: int) -> None:
    storage.put("obj/kept", [b"old content"])

    def failing(key_size: int) -> Iterator[bytes]:
        yield from chunks(os.urandom(key_size))
        raise Boom("the source died")

    for key in ("obj/new", "obj/kept"):
        with pytest.raises(Boom):
            storage.put(key, failing(size))
    assert storage.keys("obj/") == ["obj/kept"]
    assert b"".join(storage.get("obj/kept")) == b"old content"
    with pytest.raises(StorageError):
        b"".join(storage.get("obj/new"))
    # The failed writer cleaned up after itself: nothing is left to abandon.
    assert storage.abandon("obj/") == []


_WRITER = """
import json, sys, time
from pathlib import Path
from leapfrog.backup import DirectoryStorage
from leapfrog.backup.s3 import S3Storage
spec = json.loads(sys.argv[1])
if spec["kind"] == "directory":
    storage = DirectoryStorage(Path(spec["root"]))
else:
    storage = S3Storage(spec["bucket"], spec["prefix"], endpoint=spec["endpoint"],
                        access_key=spec["access"], secret_key=spec["secret"],
                        part_size=spec["part"])
def source():
    yield b"x" * (spec["part"] + 1)      # the first part goes out (S3: a multipart upload)
    yield b"y" * 1000
    print("streaming", flush=True)
    time.sleep(600)                      # killed here
storage.put("dead/object", source())
"""


def _spec(storage: Storage) -> dict[str, object]:
    if isinstance(storage, DirectoryStorage):
        return {"kind": "directory", "root": str(storage.root), "part": PART}
    assert isinstance(storage, S3Storage)
    return {
        "kind": "s3",
        "bucket": S3_BUCKET,
        "prefix": storage.prefix,
        "endpoint": storage.endpoint,
        "access": S3_ACCESS,
        "secret": S3_SECRET,
        "part": PART,
    }


def test_a_killed_writer_leaves_nothing_visible_and_abandon_removes_it(storage: Storage) -> None:
    storage.check()
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, json.dumps(_spec(storage))],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "streaming"
        time.sleep(0.5)  # the first part is on its way or stored
        os.kill(writer.pid, signal.SIGKILL)
    finally:
        writer.kill()
        writer.wait()
    assert storage.keys("") == []
    with pytest.raises(StorageError):
        b"".join(storage.get("dead/object"))
    assert storage.abandon("other/") == []  # only under the prefix asked
    assert storage.abandon("dead/") == ["dead/object"]
    assert storage.abandon("dead/") == []
    assert storage.keys("") == []


def test_check_fails_with_the_reason(storage: Storage, tmp_path: Path) -> None:
    if isinstance(storage, DirectoryStorage):
        blocker = tmp_path / "a-file"
        blocker.write_text("not a folder")
        with pytest.raises(StorageError, match="cannot be written"):
            DirectoryStorage(blocker / "backups").check()
        return
    # Nothing listens there: the server is down.
    down = S3Storage(
        S3_BUCKET, "x", endpoint=f"http://{S3_ADDRESS}:1", access_key="a", secret_key="b"
    )
    with pytest.raises(StorageError, match=r"S3 endpoint http://127\.0\.0\.71:1 is not answering"):
        down.check()
    with pytest.raises(StorageError, match="not answering"):
        down.keys("")
    assert isinstance(storage, S3Storage)
    missing = S3Storage(
        "no-such-bucket", endpoint=storage.endpoint, access_key=S3_ACCESS, secret_key=S3_SECRET
    )
    with pytest.raises(StorageError, match="the bucket no-such-bucket does not exist"):
        missing.check()
    wrong = S3Storage(
        S3_BUCKET, endpoint=storage.endpoint, access_key=S3_ACCESS, secret_key="wrong-secret"
    )
    with pytest.raises(StorageError, match=r"access denied|SignatureDoesNotMatch"):
        wrong.check()
