"""The encrypted chunk format (encryption.py) and encrypted backups through the engine:
round trips under any chunking, and every kind of tampering fails authentication."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leapfrog.backup import DirectoryStorage, open_storage
from leapfrog.backup.driver import BackupError
from leapfrog.backup.encryption import (
    HEADER,
    PLAIN_CHUNK,
    SEALED_CHUNK,
    Key,
    Keyring,
    open_sealed,
    seal,
)
from leapfrog.components._backup_options import BackupOptions
from leapfrog.shared.named_secrets import named_secrets

from .test_engine import FakeDriver, engine

KEY = Key.from_secret("backup-key", "correct horse battery staple")


def rechunk(data: bytes, sizes: list[int]) -> list[bytes]:
    out, at = [], 0
    for size in sizes:
        out.append(data[at : at + size])
        at += size
    out.append(data[at:])
    return out


def sealed(data: bytes, name: str = "base.tar.zst") -> bytes:
    return b"".join(seal(KEY, name, [data]))


def opened(stored: bytes, name: str = "base.tar.zst", key: Key = KEY) -> bytes:
    return b"".join(open_sealed(key, name, [stored]))


@pytest.mark.parametrize(
    "size", [0, 1, PLAIN_CHUNK - 1, PLAIN_CHUNK, PLAIN_CHUNK + 1, 3 * PLAIN_CHUNK + 17]
)
def test_round_trip_at_chunk_edges(size: int) -> None:
    data = os.urandom(size)
    stored = sealed(data)
    chunks = -(-size // PLAIN_CHUNK) or 1
    assert len(stored) == HEADER + size + 16 * chunks
    assert size < 16 or data not in stored  # a byte or two may occur in any ciphertext
    assert opened(stored) == data


@settings(max_examples=40, deadline=None)
@given(
    size=st.integers(0, 3 * PLAIN_CHUNK),
    cuts_in=st.lists(st.integers(1, PLAIN_CHUNK + 100), max_size=6),
    cuts_out=st.lists(st.integers(1, SEALED_CHUNK + 100), max_size=6),
)
def test_round_trip_under_any_chunking(size: int, cuts_in: list[int], cuts_out: list[int]) -> None:
    data = bytes(i % 251 for i in range(size))
    stored = b"".join(seal(KEY, "x", rechunk(data, cuts_in)))
    assert b"".join(open_sealed(KEY, "x", rechunk(stored, cuts_out))) == data


def test_each_object_has_its_own_nonces() -> None:
    assert sealed(b"same bytes") != sealed(b"same bytes")


@pytest.mark.parametrize("where", [0, 5, HEADER, HEADER + 1000, HEADER + SEALED_CHUNK + 3, -1])
def test_one_flipped_byte_fails_authentication(where: int) -> None:
    stored = bytearray(sealed(os.urandom(2 * PLAIN_CHUNK + 500)))
    stored[where] ^= 0x01
    with pytest.raises(BackupError, match=r"base\.tar\.zst"):
        opened(bytes(stored))


def test_cut_dropped_swapped_or_renamed_objects_fail() -> None:
    data = os.urandom(3 * PLAIN_CHUNK + 10)
    stored = sealed(data)
    head, body = stored[:HEADER], stored[HEADER:]
    chunks = [body[i : i + SEALED_CHUNK] for i in range(0, len(body), SEALED_CHUNK)]
    cut_at_chunk = head + b"".join(chunks[:-1])  # the last chunk gone: the new last is not final
    dropped = head + chunks[0] + chunks[2] + chunks[3]
    swapped = head + chunks[1] + chunks[0] + chunks[2] + chunks[3]
    for bad in (cut_at_chunk, dropped, swapped, stored[:-5], stored[:HEADER]):
        with pytest.raises(BackupError, match=r"failed authentication|cut short|too short"):
            opened(bad)
    with pytest.raises(BackupError, match="failed authentication"):
        opened(stored, name="other.zst")
    with pytest.raises(BackupError, match="'other'"):
        opened(stored, key=Key.from_secret("other", "another secret"))
    with pytest.raises(BackupError, match="not an encrypted object"):
        opened(b"\x28\xb5\x2f\xfd" + os.urandom(100))


def test_the_key_never_shows_in_its_repr() -> None:
    assert KEY.material.hex() not in repr(KEY)
    assert repr(KEY) == f"Key(backup-key:{KEY.fingerprint})"


def test_keyring_generates_names_and_refuses(tmp_path: Path) -> None:
    secrets = named_secrets(tmp_path)
    ring = Keyring(secrets, "bk")
    made = ring.current()
    assert made is not None
    path = tmp_path / "secrets" / "named" / "bk"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert ring.current() == made  # generated once, then read
    assert ring.key(made.key_id) == made
    with pytest.raises(BackupError, match=r"secret 'gone'.*does not have") as missing:
        ring.key("gone:0123456789abcdef")
    assert "leapfrog secrets --set gone" in str(missing.value)
    secrets.set("bk", "a different key")
    with pytest.raises(BackupError, match="secret 'bk' holds another key"):
        ring.key(made.key_id)
    assert Keyring(secrets, None).current() is None


def test_an_encrypted_backup_through_the_engine(tmp_path: Path) -> None:
    data = {"a.bin": os.urandom(200_000), "b.txt": b"hello" * 30_000}
    storage = open_storage(BackupOptions(encryption="bk"), tmp_path)
    assert isinstance(storage, DirectoryStorage)
    driver = FakeDriver(data)
    eng = engine(tmp_path, driver, storage)
    record = eng.run_backup()
    assert record.state == "succeeded", record.reason
    (manifest,) = eng.backups()
    key = storage.keyring.current() if storage.keyring else None
    assert key is not None
    for entry in manifest.objects:
        assert (entry.encryption, entry.key_id) == ("aes-256-gcm", key.key_id)
        stored = (tmp_path / "backups" / "fake" / "backups" / manifest.id / entry.name).read_bytes()
        assert stored.startswith(b"LFE1") and len(stored) == entry.size
    raw = (tmp_path / "backups" / "fake" / "backups" / manifest.id / "manifest.json").read_text()
    assert key.material.hex() not in raw and "aes-256-gcm" in raw
    assert eng.restore(manifest, None).state == "succeeded"
    assert driver.restored == data
    # Without the key: refused before anything is restored, naming the secret.
    (tmp_path / "secrets" / "named" / "bk").unlink()
    plain = engine(tmp_path, FakeDriver(data), open_storage(None, tmp_path))
    failed = plain.restore(manifest, None)
    assert failed.state == "failed"
    assert "secret 'bk'" in (failed.reason or "")
    assert "leapfrog secrets --set bk" in (failed.reason or "")
