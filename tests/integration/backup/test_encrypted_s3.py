"""An encrypted backup of a real ZooKeeper through a real S3 server (versitygw), made the
way the CLI makes it (`open_storage` from the `backups:` options): what S3 holds is
ciphertext whose sha256 the manifest records; verify and restore decrypt; a changed or
missing key fails naming the secret; a server that is down fails the backup with the
reason and leaves no backup behind."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from kazoo.client import KazooClient

from leapfrog.backup import Engine, Store, driver_for, open_storage
from leapfrog.backup._zk_tree import server_tree
from leapfrog.backup.s3 import S3Storage
from leapfrog.components._backup_options import BackupOptions
from leapfrog.components.zookeeper import DATA
from leapfrog.shared.named_secrets import named_secrets
from leapfrog.testing import RunningComponent
from tests.s3_server import S3_ACCESS, S3_BUCKET, S3_SECRET, S3Server

from .conftest import own_component

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

ADDRESS = "127.0.0.72"


@pytest.fixture(scope="module")
def zk() -> Iterator[RunningComponent]:
    options = {"port": 2189, "admin_port": 8097, "snapshot_interval_ms": 1000}
    with own_component("zookeeper", options, ADDRESS) as running:
        yield running


def make_engine(zk: RunningComponent, server: S3Server, encryption: str | None) -> Engine:
    state = zk.where.data_dir.parent.parent
    secrets = named_secrets(state)
    secrets.set("s3-access", S3_ACCESS)
    secrets.set("s3-secret", S3_SECRET)
    options = BackupOptions.model_validate(
        {
            "storage": f"s3://{S3_BUCKET}/zk-encrypted",
            "s3": {
                "endpoint": server.endpoint,
                "access_key_secret": "s3-access",
                "secret_key_secret": "s3-secret",
            },
            "encryption": encryption,
        }
    )
    storage = open_storage(options, state)
    store = Store("zookeeper", zk.component, zk.options, zk.where, zk.installation)
    return Engine(store, driver_for("zookeeper"), storage, state / "backups")


def tree_of(zk: RunningComponent) -> dict[str, str]:
    client = KazooClient(hosts=zk.env()["ZOOKEEPER_CONNECT"], timeout=10)
    client.start(timeout=30)
    try:
        return server_tree(client)[0]
    finally:
        client.stop()
        client.close()


def test_encrypted_round_trip_through_s3(zk: RunningComponent, s3_server: S3Server) -> None:
    client = KazooClient(hosts=zk.env()["ZOOKEEPER_CONNECT"], timeout=10)
    client.start(timeout=30)
    try:
        for i in range(100):
            client.create(f"/secret/item-{i:03d}", f"plaintext-marker {i}".encode(), makepath=True)
    finally:
        client.stop()
        client.close()
    before = tree_of(zk)

    engine = make_engine(zk, s3_server, "zk-backup-key")
    assert isinstance(engine.storage, S3Storage)
    record = engine.run_backup()
    assert record.state == "succeeded", record.reason
    (manifest,) = engine.backups()
    (entry,) = manifest.objects
    key_file = zk.where.data_dir.parent.parent / "secrets" / "named" / "zk-backup-key"
    assert key_file.stat().st_mode & 0o777 == 0o600  # generated on the first backup
    assert entry.encryption == "aes-256-gcm"
    assert entry.key_id is not None and entry.key_id.startswith("zk-backup-key:")

    # What S3 holds: ciphertext, the manifest's sha256 is of those bytes, no plaintext.
    raw = (
        s3_server.client()
        .get_object(
            Bucket=S3_BUCKET, Key=f"zk-encrypted/zookeeper/backups/{manifest.id}/{entry.name}"
        )["Body"]
        .read()
    )
    assert raw.startswith(b"LFE1")
    assert hashlib.sha256(raw).hexdigest() == entry.sha256 and len(raw) == entry.size
    assert b"plaintext-marker" not in raw
    text = (
        s3_server.client()
        .get_object(
            Bucket=S3_BUCKET, Key=f"zk-encrypted/zookeeper/backups/{manifest.id}/manifest.json"
        )["Body"]
        .read()
    )
    assert b"aes-256-gcm" in text and key_file.read_text().strip().encode() not in text

    verified = engine.verify(manifest.id)
    assert verified.state == "succeeded", verified.reason

    # The secret changed: refused before anything is touched, naming it.
    secrets = named_secrets(zk.where.data_dir.parent.parent)
    good = key_file.read_text()
    secrets.set("zk-backup-key", "some other key")
    refused = engine.verify(manifest.id)
    assert refused.state == "failed"
    assert "secret 'zk-backup-key' holds another key" in (refused.reason or "")
    secrets.set("zk-backup-key", good)

    zk.stop()
    shutil.rmtree(zk.where.data_dir / DATA)
    # Encryption no longer declared: the keyring still opens what the manifest names.
    restored = make_engine(zk, s3_server, None).restore(manifest, None)
    assert restored.state == "succeeded", restored.reason
    zk.start()
    assert tree_of(zk) == before


def test_s3_down_fails_the_backup_with_the_reason(zk: RunningComponent) -> None:
    dead = S3Server(Path("/nonexistent"), 1)  # nothing listens on its address
    engine = make_engine(zk, dead, "zk-backup-key")
    record = engine.run_backup()
    assert record.state == "failed"
    assert "S3 endpoint http://127.0.0.71:1 is not answering" in (record.reason or "")
