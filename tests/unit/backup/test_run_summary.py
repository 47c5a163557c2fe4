"""A run's summary (`backup run --summary-to`): what the operator puts into a Backup's
status, written by the local target from the manifest, and each driver's one-line
position; and a store mounted elsewhere named as its server names it."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from leapfrog.backup.influxdb import InfluxDBDriver
from leapfrog.backup.kafka import KafkaDriver
from leapfrog.backup.local_target import LocalBackups
from leapfrog.backup.opensearch import OpenSearchDriver
from leapfrog.backup.postgres import PostgresDriver
from leapfrog.backup.target import RunRequest
from leapfrog.backup.zookeeper import ZooKeeperDriver
from tests.unit.backup.test_engine import FakeDriver, engine


def test_a_local_run_writes_its_summary_from_the_manifest(tmp_path: Path) -> None:
    driver = FakeDriver({"a.bin": os.urandom(50_000), "b.txt": b"x" * 4000})
    eng = engine(tmp_path, driver)
    summary = tmp_path / "termination-log"
    outcome = LocalBackups(lambda *_a, **_k: eng).run(None, RunRequest(summary_to=summary), None)
    assert outcome.state == "succeeded"
    said = json.loads(summary.read_text())
    manifest = eng.find(outcome.backup)
    assert said == {
        "backupId": manifest.id,
        "size": manifest.size,
        "rawSize": 54_000,
        "objects": 2,
        "position": "offset 7",
    }
    assert len(summary.read_bytes()) < 4096  # a termination message's limit
    # the local list gives the same under the names the Kubernetes list uses
    (listed,) = LocalBackups(lambda *_a, **_k: eng).listing(None).body["backups"]
    assert (listed["size"], listed["raw_size"], listed["object_count"]) == (
        manifest.size, 54_000, 2)  # fmt: skip
    assert listed["position_summary"] == "offset 7" and listed["position"] == {"offset": "7"}


def test_a_failed_run_writes_no_summary_and_an_unwritable_one_warns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = tmp_path / "termination-log"
    failing = engine(tmp_path / "f", FakeDriver({"a": b"1"}, fail="the store went away"))
    outcome = LocalBackups(lambda *_a, **_k: failing).run(
        None, RunRequest(summary_to=summary), None
    )
    assert outcome.state == "failed" and not summary.exists()
    good = engine(tmp_path / "g", FakeDriver({"a": b"1" * 100}))
    nowhere = tmp_path / "no-such-dir" / "log"
    outcome = LocalBackups(lambda *_a, **_k: good).run(None, RunRequest(summary_to=nowhere), None)
    assert outcome.state == "succeeded"  # the backup is good all the same
    assert "the backup's summary was not written to" in capsys.readouterr().err


def test_each_driver_says_its_position_in_one_short_line() -> None:
    kafka = {"orders~0": "120", "orders~1": "80", "audit~0": "5"}
    assert KafkaDriver().position_summary(kafka) == (
        "2 topics, 3 partitions, high watermarks sum 205"
    )
    physical = {"start_lsn": "0/3000028", "timeline": "1", "end_lsn": "0/3000100",
                "verify_lsn": "0/3000120", "verify_point": "lf-x"}  # fmt: skip
    assert PostgresDriver().position_summary(physical) == "LSN 0/3000028..0/3000100 timeline 1"
    assert PostgresDriver().position_summary({}) == ""  # logical: no position
    zk = {"zxid": "0x1f", "rate_limit_ms": "2000"}
    assert ZooKeeperDriver().position_summary(zk) == "zxid 0x1f"
    search = {"snapshot": "lf-20261206t0900-ab", "files": "12", "new_files": "3"}
    assert (
        OpenSearchDriver().position_summary(search)
        == "snapshot lf-20261206t0900-ab (12 files, 3 new)"
    )
    influx = {"databases": "metrics,events", "writes_raced": "no", "parts": "{" + "x" * 80 + "}"}
    assert InfluxDBDriver().position_summary(influx) == "databases metrics,events"
    # the default: the short entries
    assert FakeDriver({}).position_summary({"a": "1", "long": "y" * 41, "b": ""}) == "a 1"


def test_a_store_mounted_elsewhere_names_its_paths_as_its_server_does(tmp_path: Path) -> None:
    eng = engine(tmp_path, FakeDriver({}))
    repo = eng.store.where.data_dir / "snapshots" / "leapfrog-backup"
    assert eng.store.as_server_sees(repo) == repo
    beside = replace(eng.store, server_data_dir=Path("/usr/share/opensearch/data"))
    assert beside.as_server_sees(repo) == Path(
        "/usr/share/opensearch/data/snapshots/leapfrog-backup"
    )
