"""Points counted from the TSM files of a real `influxd backup -portable` (1.8): the
fixtures in `influx_portable/` were written by influxd from one database `other`
(measurements with escaped names, string and boolean fields, irregular nanosecond
timestamps in simple8b, a second retention policy over two shards), with the server's
own facts (`SHOW SERIES EXACT CARDINALITY`, `COUNT(*)`) beside them. `overwritten` is
the same after one point was written again (two blocks holding the same time);
`deleted` after a `DELETE` (a tombstone)."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from leapfrog.backup._influx_tsm import count_backup, count_server
from leapfrog.backup.control import RunControl
from leapfrog.backup.influxdb import _count_early, _counted, _Server

HERE = Path(__file__).parent / "influx_portable"
SERVER: dict[str, Any] = json.loads((HERE / "plain-server-facts.json").read_text())


def values(facts: dict[str, Any]) -> dict[str, Any]:
    return {name: entry["values"] for name, entry in facts.items()}


def test_the_values_per_field_are_the_servers_count(tmp_path: Path) -> None:
    counted = count_backup(HERE / "plain", ["other"], tmp_path)
    assert counted is not None
    assert values(counted["other"]) == values(SERVER["other"])
    assert values(counted["other"])["irr"] == {"autogen.n": 2500, "autogen.v": 2500}
    assert "m,x" in counted["other"]  # the escaped comma of the series key undone
    assert list(tmp_path.iterdir()) == []  # nothing unpacked is left behind


def test_the_series_are_the_distinct_series_keys(tmp_path: Path) -> None:
    counted = count_backup(HERE / "plain", ["other"], tmp_path)
    assert counted is not None
    assert {name: entry["series"] for name, entry in counted["other"].items()} == {
        "big": 1,
        "cpu": 1,  # the server says 0: its cardinality leaves out this retention policy
        "disk": 1,
        "irr": 3,
        "m,x": 1,
    }


@pytest.mark.parametrize("case", ["overwritten", "deleted"])
def test_points_that_may_count_twice_or_not_at_all_are_not_counted(
    case: str, tmp_path: Path
) -> None:
    assert count_backup(HERE / case, ["other"], tmp_path) is None


def test_a_damaged_archive_is_not_counted(tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(HERE / "plain", copy)
    archive = copy / "backup.s1.tar.gz"
    archive.write_bytes(archive.read_bytes()[:1000])
    assert count_backup(copy, ["other"], tmp_path) is None


def server_data(tmp_path: Path) -> Path:
    """A server's data directory holding the shards of the `plain` backup."""
    data = tmp_path / "data"
    data.mkdir()
    for archive in sorted((HERE / "plain").glob("*.tar.gz")):
        subprocess.run(["tar", "-xzf", str(archive), "-C", str(data)], check=True)
    return data


def test_the_servers_own_shards_count_the_same(tmp_path: Path) -> None:
    data = server_data(tmp_path)
    assert count_server(data, {"other": {1, 2, 3, 4}}) == count_backup(
        HERE / "plain", ["other"], tmp_path
    )
    assert count_server(data, {"other": {1, 2, 3, 4, 9}}) is None  # no such shard here
    (data / "other" / "autogen" / "1" / "000000001-000000001.tombstone").write_bytes(b"")
    assert count_server(data, {"other": {1, 2, 3, 4}}) is None


def census() -> dict[str, Any]:
    return {
        db: {name: {"series": e["series"], "values": {}} for name, e in measurements.items()}
        for db, measurements in SERVER.items()
    }


def counted(
    tmp_path: Path,
    known: dict[str, Any],
    shards: dict[str, set[int]],
    data: Path | None = None,
    quiet: bool = True,
) -> tuple[dict[str, Any], str] | None:
    scratch = (tmp_path, RunControl(deadline=60, stall_after=60, temp_dir=tmp_path))
    server = _Server(known, shards, data or tmp_path / "no-data", lambda: quiet)
    return _counted([(HERE / "plain", "")], ["other"], server, scratch)


@pytest.mark.parametrize("from_server", [True, False])
def test_the_facts_take_the_servers_series_and_the_files_values(
    tmp_path: Path, from_server: bool
) -> None:
    data = server_data(tmp_path) if from_server else None
    where = "server TSM files" if from_server else "backup TSM files"
    assert counted(tmp_path, census(), {"other": {1, 2, 3, 4}}, data) == (SERVER, where)


def test_a_write_while_the_servers_files_were_counted_leaves_the_backups(
    tmp_path: Path,
) -> None:
    data = server_data(tmp_path)
    found = counted(tmp_path, census(), {"other": {1, 2, 3, 4}}, data, quiet=False)
    assert found == (SERVER, "backup TSM files")


def test_a_backup_without_a_shard_of_the_server_is_not_described(tmp_path: Path) -> None:
    for shards in ({"other": {1, 2, 3, 4, 5}}, {"other": {1, 2, 3}}):
        assert counted(tmp_path, census(), shards) is None


def test_a_measurement_the_server_has_and_the_files_lack_is_not_described(
    tmp_path: Path,
) -> None:
    known = census()
    known["other"]["mem"] = {"series": 2, "values": {}}
    assert counted(tmp_path, known, {"other": {1, 2, 3, 4}}) is None


def test_the_servers_files_are_counted_once_the_tool_wrote_every_shard(tmp_path: Path) -> None:
    data = server_data(tmp_path)
    asked: Future[tuple[dict[str, Any], dict[str, set[int]]]] = Future()
    asked.set_result((census(), {"other": {1, 2, 3, 4}}))
    folder = tmp_path / "tool"
    folder.mkdir()
    tool_done = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        early = pool.submit(_count_early, asked, data, folder, tool_done)
        for shard in (1, 2, 3):
            (folder / f"20261206T000000Z.s{shard}.tar.gz").write_bytes(b"")
        time.sleep(0.1)
        assert not early.done()  # shard 4 not written yet: not flushed yet
        (folder / "20261206T000000Z.s4.tar.gz").write_bytes(b"")
        assert early.result(timeout=10) == count_server(data, {"other": {1, 2, 3, 4}})
        assert not tool_done.is_set()
        # A tool that ended without writing them all: counted then (`_counted` judges).
        early = pool.submit(_count_early, asked, data, tmp_path / "none", tool_done)
        tool_done.set()
        assert early.result(timeout=10) == count_server(data, {"other": {1, 2, 3, 4}})
