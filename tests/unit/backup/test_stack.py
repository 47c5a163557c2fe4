"""`engine_for` and `policy_of`: which store, which storage, what a prune keeps."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from leapfrog.backup import DirectoryStorage, Store
from leapfrog.backup._stack import LocalStack, engine_for, policy_of
from leapfrog.backup.retention import Policy
from leapfrog.components import component
from leapfrog.components._backup_options import BackupOptions
from leapfrog.components.base import Installation, Instance
from leapfrog.shared.errors import LeapfrogError


def store(tmp_path: Path, name: str, backups: BackupOptions | None = None) -> Store:
    where = Instance(name, f"{name}-1", "127.0.0.1", 1, tmp_path, tmp_path, tmp_path)
    options = SimpleNamespace(backups=backups)
    return Store(name, component(name), options, where, Installation("1", tmp_path))


def test_the_only_store_is_chosen_and_its_storage_is_the_declared_one(tmp_path: Path) -> None:
    declared = BackupOptions(storage=str(tmp_path / "elsewhere"))
    stack = LocalStack(tmp_path / "state", {"zookeeper": store(tmp_path, "zookeeper", declared)})
    engine = engine_for(stack, None)
    assert engine.store.name == "zookeeper" and engine.driver.kind == "zookeeper"
    assert isinstance(engine.storage, DirectoryStorage)
    assert str(tmp_path / "elsewhere") in engine.storage.description
    assert engine.state_dir == tmp_path / "state" / "backups"
    default = LocalStack(tmp_path / "state", {"zookeeper": store(tmp_path, "zookeeper")})
    assert str(tmp_path / "state" / "backups") in engine_for(default, None).storage.description


def test_choosing_a_store_says_what_there_is(tmp_path: Path) -> None:
    both = {"zookeeper": store(tmp_path, "zookeeper"), "kafka": store(tmp_path, "kafka")}
    stack = LocalStack(tmp_path, both, frozenset({"lb"}))
    with pytest.raises(LeapfrogError, match="name the store") as caught:
        engine_for(stack, None)
    assert caught.value.hint == "stores with a backup driver here: kafka, zookeeper"
    with pytest.raises(LeapfrogError, match="nosuch is not a component of this stack"):
        engine_for(stack, "nosuch")
    with pytest.raises(LeapfrogError, match="lb has no backup driver"):
        engine_for(stack, "lb")
    with pytest.raises(LeapfrogError, match="this stack has no store to back up"):
        engine_for(LocalStack(tmp_path, {}), None)


def test_schedules_are_the_stores_that_declare_one(tmp_path: Path) -> None:
    stack = LocalStack(
        tmp_path,
        {
            "zookeeper": store(tmp_path, "zookeeper", BackupOptions(schedule="0 3 * * *")),
            "kafka": store(tmp_path, "kafka", BackupOptions()),
            "influxdb": store(tmp_path, "influxdb"),
        },
    )
    assert list(stack.schedules()) == ["zookeeper"]


def test_policy_defaults_to_the_stack_file_and_flags_override() -> None:
    declared = SimpleNamespace(backups=BackupOptions(keep_last=3, keep_daily=7, keep_monthly=2))
    assert policy_of(declared) == Policy(keep_last=3, keep_daily=7, keep_monthly=2)
    assert policy_of(declared, keep_daily=0, keep_weekly=4, keep_last=None) == Policy(
        keep_last=3, keep_daily=0, keep_weekly=4, keep_monthly=2
    )
    assert policy_of(SimpleNamespace(backups=None)) == Policy(keep_last=7)
