"""`_growing.Following`: files stored while a program still writes them."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from leapfrog.backup import DirectoryStorage, RunControl
from leapfrog.backup._growing import Following
from leapfrog.backup._objects import ObjectWriter, backup_prefix, check_object


def writer(tmp_path: Path) -> tuple[ObjectWriter, DirectoryStorage]:
    storage = DirectoryStorage(tmp_path / "s")
    run = RunControl(deadline=60, stall_after=60)
    return ObjectWriter(storage, "fake", "b1", True, run), storage


def stored(storage: DirectoryStorage, name: str) -> bytes:
    return b"".join(storage.get(backup_prefix("fake", "b1") + name))


def program(steps: list[Callable[[], None]]) -> threading.Thread:
    """A stand-in for the tool: each step a write, 20 ms apart."""

    def run() -> None:
        for step in steps:
            step()
            time.sleep(0.02)

    return threading.Thread(target=run)


def append(path: Path, data: bytes) -> Callable[[], None]:
    def step() -> None:
        with path.open("ab") as out:
            out.write(data)

    return step


def test_files_are_stored_whole_as_they_are_written_one_after_another(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    first, second = os.urandom(300_000), os.urandom(200_000)
    steps = [folder.mkdir]
    steps += [append(folder / "a.tar.gz", first[i : i + 50_000]) for i in range(0, 300_000, 50_000)]
    steps += [
        append(folder / "b.tar.gz", second[i : i + 50_000]) for i in range(0, 200_000, 50_000)
    ]
    steps += [append(folder / "x.manifest", b"{}")]
    sink, storage = writer(tmp_path)
    tool = program(steps)
    with Following(sink, folder, "p~", "*.tar.gz", compress=False) as following:
        tool.start()
        tool.join()
    found = following.finish()
    assert sorted(found) == ["a.tar.gz", "b.tar.gz"]
    assert [e.name for e in sink.written] == ["p~a.tar.gz", "p~b.tar.gz"]
    assert stored(storage, "p~a.tar.gz") == first and stored(storage, "p~b.tar.gz") == second
    assert sink.read_back() == []


def test_a_file_written_to_after_a_newer_one_appeared_is_dropped(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    steps = [
        append(folder / "a.tar.gz", b"a" * 1000),
        append(folder / "b.tar.gz", b"b" * 1000),
        lambda: time.sleep(0.3),  # a is seen whole by now
        append(folder / "a.tar.gz", b"late"),
    ]
    sink, storage = writer(tmp_path)
    tool = program(steps)
    with Following(sink, folder, "", "*.tar.gz") as following:
        tool.start()
        tool.join()
    assert sorted(following.finish()) == ["b.tar.gz"]
    assert [e.name for e in sink.written] == ["b.tar.gz.zst"]
    assert storage.keys(backup_prefix("fake", "b1")) == [
        backup_prefix("fake", "b1") + "b.tar.gz.zst"
    ]
    following.discard()  # a try discarded after its check: the rest dropped, once each
    assert sink.written == [] and storage.keys("fake/") == []


def test_a_discarded_try_leaves_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "a.tar.gz").write_bytes(b"a" * 1000)
    sink, storage = writer(tmp_path)
    with Following(sink, folder, "", "*.tar.gz", compress=False) as following:
        pass
    entry = following.finish()["a.tar.gz"]
    assert check_object(storage, backup_prefix("fake", "b1"), entry) is None
    following.discard()
    assert sink.written == [] and storage.keys("fake/") == []
