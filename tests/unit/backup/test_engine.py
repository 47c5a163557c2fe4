"""The engine's status rules with a driver that does what the test says (no store)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest

from leapfrog.backup import (
    BackupBusy,
    BackupDriver,
    DirectoryStorage,
    Engine,
    Limits,
    RunControl,
    Sink,
    Source,
    Store,
    Taken,
    Verified,
)
from leapfrog.backup.driver import BackupError, pick
from leapfrog.backup.encryption import Keyring
from leapfrog.backup.engine import judge_objects
from leapfrog.backup.manifest import Manifest
from leapfrog.backup.retention import Policy
from leapfrog.backup.storage import Storage
from leapfrog.components.base import Installation, Instance
from leapfrog.shared.errors import LeapfrogError
from leapfrog.shared.named_secrets import named_secrets


class FakeDriver(BackupDriver):
    kind: ClassVar[str] = "fake"
    modes: ClassVar[tuple[str, ...]] = ("full",)

    def __init__(
        self, objects: dict[str, bytes], fail: str | None = None, as_is: tuple[str, ...] = ()
    ) -> None:
        self.objects = objects
        self.fail = fail
        self.as_is = as_is
        self.restored: dict[str, bytes] = {}
        self.hook: Any = None

    def backup(self, store: Store, mode: str, sink: Sink, run: RunControl) -> Taken:
        for name, data in self.objects.items():
            chunks = [data[: len(data) // 2], data[len(data) // 2 :]]
            sink.put(name, chunks, compress=name not in self.as_is)
            if self.hook:
                self.hook()
        if self.fail:
            raise RuntimeError(self.fail)
        return Taken("1.0", {"offset": "7"}, {"rows": 3})

    def replaces(self, store: Store, manifest: Manifest, to: datetime | None) -> list[str]:
        return ["everything"]

    def restore(
        self, store: Store, source: Source, storage: Storage, to: datetime | None, run: RunControl
    ) -> str:
        for name in self.objects:
            self.restored[name] = b"".join(source.open(name))
        return "restored"

    def verify(
        self, store: Store, source: Source, storage: Storage, scratch: Path, run: RunControl
    ) -> Verified:
        return Verified(True, "fine")


def engine(
    tmp_path: Path, driver: FakeDriver, storage: Storage | None = None, progress: Any = None
) -> Engine:
    where = Instance("fake", "fake-1", "127.0.0.1", 1, tmp_path, tmp_path, tmp_path)
    store = Store("fake", object(), None, where, Installation("1.0", tmp_path))  # type: ignore[arg-type]
    storage = storage or DirectoryStorage(tmp_path / "s")
    return Engine(store, driver, storage, tmp_path / "h", Limits(), progress)


def test_a_complete_backup_succeeds_and_restores_byte_for_byte(tmp_path: Path) -> None:
    data = {"a.bin": os.urandom(300_000), "b.txt": b"hello" * 1000}
    driver = FakeDriver(data)
    eng = engine(tmp_path, driver)
    record = eng.run_backup()
    assert record.state == "succeeded", record.reason
    (manifest,) = eng.backups()
    assert [o.name for o in manifest.objects] == ["a.bin.zst", "b.txt.zst"]
    assert manifest.raw_size == 305_000 and manifest.position == {"offset": "7"}
    assert eng.restore(manifest, None).state == "succeeded"
    assert driver.restored == data


def test_uncompressed_objects_are_stored_as_they_are(tmp_path: Path) -> None:
    eng = engine(tmp_path, FakeDriver({"a": b"abc"}))
    assert eng.run_backup(compress=False).state == "succeeded"
    (manifest,) = eng.backups()
    assert manifest.objects[0].compression == "none"
    assert (tmp_path / "s" / "fake" / "backups" / manifest.id / "a").read_bytes() == b"abc"


def test_an_object_zstd_does_not_shrink_is_stored_as_it_is(tmp_path: Path) -> None:
    noise = os.urandom(3 << 20)
    text = b"".join(b"line %d of a log\n" % i for i in range(200_000))
    driver = FakeDriver({"noise": noise, "text": text})
    eng = engine(tmp_path, driver)
    assert eng.run_backup(compress=True).state == "succeeded"
    (manifest,) = eng.backups()
    found = {o.name: (o.compression, o.size, o.raw_size) for o in manifest.objects}
    assert found["noise"] == ("none", len(noise), len(noise))
    assert found["text.zst"][0] == "zstd" and found["text.zst"][1] < len(text) // 3
    assert eng.restore(manifest, None).state == "succeeded"
    assert driver.restored == {"noise": noise, "text": text}


def test_an_object_compressed_already_is_stored_as_it_is_in_a_compressed_run(
    tmp_path: Path,
) -> None:
    data = {"shard.tar.gz": os.urandom(1000), "meta": b"m" * 100}
    driver = FakeDriver(data, as_is=("shard.tar.gz",))
    eng = engine(tmp_path, driver)
    assert eng.run_backup(compress=True).state == "succeeded"
    (manifest,) = eng.backups()
    assert {o.name: o.compression for o in manifest.objects} == {
        "shard.tar.gz": "none",
        "meta.zst": "zstd",
    }
    stored = tmp_path / "s" / "fake" / "backups" / manifest.id / "shard.tar.gz"
    assert stored.read_bytes() == data["shard.tar.gz"]
    assert eng.restore(manifest, None).state == "succeeded"
    assert driver.restored == data


@pytest.mark.parametrize(
    ("objects", "why"),
    [({}, "empty: the driver wrote no object"), ({"a": b""}, "empty: every object has 0 bytes")],
)
def test_empty_is_failed(tmp_path: Path, objects: dict[str, bytes], why: str) -> None:
    eng = engine(tmp_path, FakeDriver(objects))
    record = eng.run_backup()
    assert (record.state, record.reason) == ("failed", why)
    assert eng.backups() == []


def test_a_driver_failure_is_failed_and_leaves_nothing(tmp_path: Path) -> None:
    eng = engine(tmp_path, FakeDriver({"a": b"x" * 100}, fail="store went away"))
    record = eng.run_backup()
    assert record.state == "failed" and "store went away" in record.reason
    assert eng.backups() == [] and eng.storage.keys("") == []


class LosingStorage(DirectoryStorage):
    """Says it wrote `a.zst` but gives back other bytes: a storage that loses data."""

    def get(self, key: str) -> Iterator[bytes]:
        if key.endswith("/a.zst"):
            yield b"garbage"
            return
        yield from super().get(key)


def test_an_object_that_reads_back_wrong_is_failed(tmp_path: Path) -> None:
    driver = FakeDriver({"a": b"x" * 1000, "b": b"y" * 1000})
    eng = engine(tmp_path, driver, LosingStorage(tmp_path / "s"))
    record = eng.run_backup()
    assert record.state == "failed"
    assert "read-back failed: object a.zst has 7 bytes" in record.reason
    assert eng.backups() == []


def test_a_storage_that_cannot_be_written_is_failed_with_the_reason(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    eng = engine(tmp_path, FakeDriver({"a": b"x"}), DirectoryStorage(blocked / "s"))
    record = eng.run_backup()
    assert record.state == "failed" and "cannot be written" in record.reason


def test_a_second_run_of_the_same_store_is_refused(tmp_path: Path) -> None:
    driver = FakeDriver({"a": b"x" * 10})
    eng = engine(tmp_path, driver)
    refused: list[str] = []

    def second_run() -> None:
        with pytest.raises(BackupBusy) as caught:
            engine(tmp_path, FakeDriver({"b": b"y"})).run_backup()
        refused.append(str(caught.value))

    driver.hook = second_run
    assert eng.run_backup().state == "succeeded"
    assert refused and "in progress (backup by pid" in refused[0]


def test_a_run_whose_process_died_reads_as_failed(tmp_path: Path) -> None:
    eng = engine(tmp_path, FakeDriver({"a": b"x"}))
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    record = eng.history.start("20261205T000000Z-abcd", "fake", "backup")
    eng.history.save(record.model_copy(update={"pid": int(dead.stdout)}))
    (found,) = eng.history.records()
    assert found.state == "failed" and "ended mid-run" in found.reason
    (again,) = eng.history.records()  # rewritten, not just read so
    assert again.state == "failed"


def test_objects_without_a_manifest_are_not_a_backup_and_are_cleaned(tmp_path: Path) -> None:
    eng = engine(tmp_path, FakeDriver({"a": b"x" * 10}))
    eng.storage.put("fake/backups/20261205T000000Z-dead/a.zst", [b"half"])
    stray = tmp_path / "s" / "fake" / "backups" / "20261205T000000Z-dead" / ".partial-b.zst"
    stray.write_bytes(b"half")
    assert eng.backups() == []
    assert eng.run_backup().state == "succeeded"
    assert len(eng.backups()) == 1
    assert not stray.parent.exists()


def test_judge_objects_rules() -> None:
    assert judge_objects(0, 0, []) is not None
    assert judge_objects(2, 0, []) is not None
    assert judge_objects(1, 5, ["object x corrupt"]) == "read-back failed: object x corrupt"
    assert judge_objects(1, 5, []) is None


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_progress_detection_and_deadline() -> None:
    clock = Clock()
    run = RunControl(deadline=100, stall_after=10, clock=clock)
    clock.now = 9
    assert run.abort_reason() is None
    clock.now = 11
    assert run.abort_reason() == "made no progress for 10s"
    run.progressed("x", 5)
    assert run.abort_reason() is None
    clock.now = 101
    run.progressed("x", 5)
    assert run.abort_reason() == "passed its deadline of 100s"


def test_a_stalled_program_is_killed_and_the_run_fails(tmp_path: Path) -> None:
    class Stuck(FakeDriver):
        def backup(self, store: Store, mode: str, sink: Sink, run: RunControl) -> Taken:
            proc = run.spawn(["sleep", "600"])
            proc.wait()
            run.check()
            raise AssertionError("not reached")

    eng = engine(tmp_path, Stuck({}))
    eng.limits = Limits(deadline=600, stall_after=0.5)
    record = eng.run_backup()
    assert record.state == "failed" and "made no progress for 0.5s" in record.reason


def test_prune_keeps_last_and_lists_afterwards(tmp_path: Path) -> None:
    eng = engine(tmp_path, FakeDriver({"a": b"x" * 10}))
    for _ in range(3):
        assert eng.run_backup().state == "succeeded"
    ids = [m.id for m in eng.backups()]
    record = eng.prune(Policy(keep_last=1))
    assert record.state == "succeeded"
    assert [m.id for m in eng.backups()] == ids[-1:]
    assert record.details["deleted"] == list(reversed(ids[:-1]))


def test_backup_verify_and_restore_each_report_bytes(tmp_path: Path) -> None:
    """Progress bars show bytes and rate for every action, not only for a backup."""
    data = {"a.bin": os.urandom(200_000)}
    seen: list[tuple[str, int]] = []
    eng = engine(tmp_path, FakeDriver(data), progress=lambda what, done: seen.append((what, done)))
    assert eng.run_backup().state == "succeeded"
    assert seen and seen[-1][1] >= 200_000
    (manifest,) = eng.backups()
    for action in (lambda: eng.verify(None), lambda: eng.restore(manifest, None)):
        seen.clear()
        assert action().state == "succeeded"
        checked = [done for what, done in seen if what.startswith("checking ")]
        assert checked and checked[-1] == manifest.size  # every stored byte, hashed
    assert [what for what, _ in seen if what.startswith("reading ")]  # the restore's reads
    assert seen[-1][1] == 2 * manifest.size


def test_the_choice_is_recorded_in_the_manifest(tmp_path: Path) -> None:
    driver = FakeDriver({"a": b"x" * 10})
    driver.only = ("orders", "logs-*")
    eng = engine(tmp_path, driver)
    assert eng.run_backup().state == "succeeded"
    assert eng.backups()[0].chosen == ["orders", "logs-*"]


def test_pick_takes_names_and_patterns_and_names_what_exists() -> None:
    held = ["logs-1", "logs-2", "orders", "users"]
    assert pick(held, [], "index", "x") == held
    assert pick(held, ["users", "logs-*"], "index", "x") == ["logs-1", "logs-2", "users"]
    with pytest.raises(BackupError) as caught:
        pick(held, ["orders", "metrics-*"], "index", "OpenSearch opensearch-1")
    assert str(caught.value).startswith(
        "OpenSearch opensearch-1 has no index metrics-*; its indices: logs-1, logs-2, orders, users"
    )


class SharingDriver(FakeDriver):
    """Stores its objects shared, reusing what the previous backup stored of the same
    name and size (an incremental driver's way)."""

    def __init__(self, objects: dict[str, bytes], fail: str | None = None) -> None:
        super().__init__(objects, fail)
        self.reused: list[str] = []

    def backup(self, store: Store, mode: str, sink: Sink, run: RunControl) -> Taken:
        self.reused = []
        for name, data in self.objects.items():
            if sink.reuse(name, len(data)) is not None:
                self.reused.append(name)
            else:
                sink.put(name, [data], shared=True)
        if self.fail:
            raise RuntimeError(self.fail)
        return Taken("1.0", {}, {})


def _shared_keys(eng: Engine) -> list[str]:
    return eng.storage.keys("fake/shared/")


def test_shared_objects_are_reused_restored_and_pruned_by_reference(tmp_path: Path) -> None:
    data = {"old": os.urandom(50_000), "kept": os.urandom(50_000)}
    driver = SharingDriver(dict(data))
    eng = engine(tmp_path, driver)
    assert eng.run_backup().state == "succeeded"
    assert driver.reused == []
    driver.objects = {"kept": data["kept"], "new": b"n" * 1000}
    assert eng.run_backup().state == "succeeded"
    assert driver.reused == ["kept"]  # neither read nor written again
    first, second = eng.backups()
    assert {o.name for o in first.objects} & {o.name for o in second.objects}
    assert len(_shared_keys(eng)) == 3

    assert eng.restore(second, None).state == "succeeded"
    assert driver.restored == driver.objects
    assert eng.prune(Policy(keep_last=1)).state == "succeeded"
    assert [m.id for m in eng.backups()] == [second.id]
    assert len(_shared_keys(eng)) == 2  # `old` went with the only backup using it
    assert eng.verify(None).state == "succeeded"
    assert eng.restore(second, None).state == "succeeded"


def test_a_corrupt_shared_object_fails_naming_it(tmp_path: Path) -> None:
    eng = engine(tmp_path, SharingDriver({"a": os.urandom(10_000)}))
    assert eng.run_backup().state == "succeeded"
    (key,) = _shared_keys(eng)
    path = eng.storage.local_path(key)
    assert path is not None
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 1
    path.write_bytes(bytes(raw))
    failed = eng.verify(None)
    assert failed.state == "failed"
    assert f"object {key.rsplit('/', 1)[1]} does not match its sha256" in failed.reason


def test_a_failed_runs_shared_objects_are_removed_and_never_reused(tmp_path: Path) -> None:
    driver = SharingDriver({"a": b"a" * 100}, fail="boom")
    eng = engine(tmp_path, driver)
    assert eng.run_backup().state == "failed"
    assert _shared_keys(eng) == []
    driver.fail = None
    assert eng.run_backup().state == "succeeded"
    assert driver.reused == []


def test_a_shared_object_is_not_reused_unsealed_once_keys_are_declared(tmp_path: Path) -> None:
    storage = DirectoryStorage(tmp_path / "s")
    driver = SharingDriver({"a": b"a" * 100})
    eng = engine(tmp_path, driver, storage)
    assert eng.run_backup().state == "succeeded"
    storage.keyring = Keyring(named_secrets(tmp_path), "bk")
    assert eng.run_backup().state == "succeeded"
    assert driver.reused == []
    assert eng.backups()[-1].objects[0].encryption != "none"


class ThreadedDriver(FakeDriver):
    """Puts its objects from two threads at once (as the OpenSearch driver does)."""

    def backup(self, store: Store, mode: str, sink: Sink, run: RunControl) -> Taken:
        with ThreadPoolExecutor(max_workers=2) as pool:
            puts = [pool.submit(sink.put, n, [d[:7], d[7:]], True) for n, d in self.objects.items()]
            for put in puts:
                put.result()
        return Taken("1.0", {}, {})


def test_objects_put_from_two_threads_make_a_whole_backup(tmp_path: Path) -> None:
    data = {f"o{i}": os.urandom(20_000 + i) for i in range(12)}
    driver = ThreadedDriver(data)
    eng = engine(tmp_path, driver)
    assert eng.run_backup().state == "succeeded"
    (manifest,) = eng.backups()
    assert len(manifest.objects) == 12
    assert eng.verify(None).state == "succeeded"
    assert eng.restore(manifest, None).state == "succeeded"
    assert driver.restored == data


class CheckingAsItRestores(FakeDriver):
    def checks_as_it_restores(self, manifest: Manifest) -> bool:
        return True


def test_a_driver_checking_as_it_restores_reads_each_object_once(tmp_path: Path) -> None:
    data = {"a.bin": os.urandom(200_000)}
    seen: list[str] = []
    driver = CheckingAsItRestores(data)
    eng = engine(tmp_path, driver, progress=lambda what, done: seen.append(what))
    assert eng.run_backup().state == "succeeded"
    (manifest,) = eng.backups()
    seen.clear()
    assert eng.restore(manifest, None).state == "succeeded"
    assert driver.restored == data
    assert not [w for w in seen if w.startswith("checking ")]
    assert [w for w in seen if w.startswith("reading ")]


@pytest.mark.parametrize("checks_as_it_restores", [False, True])
def test_a_corrupt_object_fails_the_restore_either_way(
    tmp_path: Path, checks_as_it_restores: bool
) -> None:
    driver = (CheckingAsItRestores if checks_as_it_restores else FakeDriver)(
        {"a.bin": os.urandom(200_000)}
    )
    eng = engine(tmp_path, driver)
    assert eng.run_backup().state == "succeeded"
    (manifest,) = eng.backups()
    stored = tmp_path / "s" / "fake" / "backups" / manifest.id / "a.bin.zst"
    raw = bytearray(stored.read_bytes())
    raw[-10] ^= 0xFF
    stored.write_bytes(bytes(raw))
    record = eng.restore(manifest, None)
    assert record.state == "failed"
    assert "a.bin.zst" in (record.reason or "")


def test_a_given_id_names_the_backup_and_a_second_attempt_takes_nothing(tmp_path: Path) -> None:
    driver = FakeDriver({"a.bin": b"x" * 1000})
    eng = engine(tmp_path, driver)
    first = eng.run_backup(backup_id="20261206T090000Z-ab12")
    assert (first.state, first.backup) == ("succeeded", "20261206T090000Z-ab12")
    again = eng.run_backup(backup_id="20261206T090000Z-ab12")
    assert (again.state, again.backup) == ("succeeded", "20261206T090000Z-ab12")
    assert again.reason == "taken already by an earlier attempt"
    assert [m.id for m in eng.backups()] == ["20261206T090000Z-ab12"]
    with pytest.raises(LeapfrogError, match="is not a backup id"):
        eng.run_backup(backup_id="../../etc")
