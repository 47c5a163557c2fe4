"""`_objects.ObjectWriter`: objects at zstd's lightest level, and objects a run drops."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from leapfrog.backup import DirectoryStorage, RunControl
from leapfrog.backup._objects import ObjectReader, ObjectWriter, backup_prefix
from leapfrog.backup.driver import BackupError
from leapfrog.backup.manifest import Manifest


def writer(tmp_path: Path) -> tuple[ObjectWriter, DirectoryStorage]:
    storage = DirectoryStorage(tmp_path / "s")
    run = RunControl(deadline=60, stall_after=60)
    return ObjectWriter(storage, "fake", "b1", True, run), storage


def records(count: int) -> bytes:
    """Like the Kafka bench's: half of each value random, half repeated."""
    return b"".join(os.urandom(512) + b"x" * 512 for _ in range(count))


def test_a_light_object_is_zstd_and_reads_back_whole(tmp_path: Path) -> None:
    data = records(3000)
    sink, storage = writer(tmp_path)
    light = sink.put("light", [data[:1_000_000], data[1_000_000:]], light=True)
    usual = sink.put("usual", [data])
    assert sink.read_back() == []
    assert (light.compression, usual.compression) == ("zstd", "zstd")
    assert light.raw_size == usual.raw_size == len(data)
    assert light.size < len(data) * 0.6
    manifest = Manifest.model_validate(
        {
            "id": "b1",
            "store": "fake",
            "kind": "fake",
            "mode": "full",
            "started": "2026-12-06T00:00:00Z",
            "ended": "2026-12-06T00:00:01Z",
            "store_version": "1",
            "position": {},
            "facts": {},
            "objects": [light.model_dump(), usual.model_dump()],
        }
    )
    reader = ObjectReader(storage, manifest)
    assert b"".join(reader.open("light")) == data == b"".join(reader.open("usual"))


def test_a_dropped_object_is_neither_listed_nor_stored(tmp_path: Path) -> None:
    sink, storage = writer(tmp_path)
    kept = sink.put("kept", [b"a" * 1000])
    dropped = sink.put("dropped", [b"b" * 1000])
    sink.drop(dropped)
    assert sink.written == [kept]
    assert sink.read_back() == []
    assert storage.keys(backup_prefix("fake", "b1")) == [backup_prefix("fake", "b1") + kept.name]
    with pytest.raises(BackupError, match="not written by this run"):
        sink.drop(dropped)
