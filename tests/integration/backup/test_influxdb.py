"""The InfluxDB driver against the real influxd 1.8: round trip through a wiped data
directory (points written just before the backup included), verify by restore into a
scratch server, a corrupt byte named, a server that is down, kill -9 of the backup
mid-run, chosen databases at backup and restore, and a server without databases.
One server for the module; the test that wipes it comes after those that only read."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from leapfrog.backup import Engine
from leapfrog.backup.manifest import Manifest
from leapfrog.shared.errors import LeapfrogError
from leapfrog.testing import RunningComponent, free_port

from .conftest import (
    assert_killed_run_is_failed_and_the_next_succeeds,
    kill_9_mid_run,
    make_engine,
    one_byte_flipped,
    own_component,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

ADDRESS = "127.0.0.58"


@pytest.fixture(scope="module")
def influx() -> Iterator[RunningComponent]:
    options: dict[str, Any] = {
        "port": free_port(ADDRESS),
        "rpc_port": free_port(ADDRESS),
        "databases": {"metrics": {"retention_policies": {"week": {"duration": "7d"}}}},
    }
    with own_component("influxdb", options, ADDRESS) as running:
        yield running


def url(influx: RunningComponent) -> str:
    return influx.env()["INFLUXDB_URL"]


def write(influx: RunningComponent, lines: str, rp: str = "", db: str = "metrics") -> None:
    params = {"db": db, "precision": "s", "rp": rp}
    response = httpx.post(f"{url(influx)}/write", params=params, content=lines, timeout=60)
    assert response.status_code == 204, response.text


def rows(influx: RunningComponent, statement: str, db: str = "metrics") -> list[Any]:
    params = {"q": statement, "db": db}
    body = httpx.post(f"{url(influx)}/query", params=params, timeout=30).json()
    result = body["results"][0]
    assert "error" not in result, result
    return [(s.get("tags"), s.get("values")) for s in result.get("series", [])]


def contents(influx: RunningComponent) -> list[Any]:
    return [
        rows(influx, 'SELECT * FROM "metrics"."autogen"./.*/ GROUP BY *'),
        rows(influx, 'SELECT * FROM "metrics"."week"./.*/ GROUP BY *'),
    ]


def databases(influx: RunningComponent) -> list[str]:
    found = rows(influx, "SHOW DATABASES")
    return sorted(name for _tags, values in found for (name,) in values if name != "_internal")


@dataclass(frozen=True)
class Taken:
    engine: Engine
    manifest: Manifest
    before: list[Any]


@pytest.fixture(scope="module")
def taken(influx: RunningComponent) -> Taken:
    """Points in two retention policies (some written just before), one backup."""
    base = 1_700_000_000
    write(
        influx,
        "\n".join(
            f"cpu,host=h{i % 7},zone=z{i % 3} user={i * 0.5},n={i}i,ok={str(i % 2 == 0).lower()} "
            f"{base + i}"
            for i in range(3000)
        ),
    )
    write(
        influx,
        "\n".join(f'disk,dev=sd{i % 4} free={i}i,label="l{i}" {base + i}' for i in range(500)),
    )
    now_lines = "\n".join(f"mem,host=h{i} used={i}i" for i in range(50))
    write(influx, now_lines, rp="week")  # just before the backup: still in the cache
    before = contents(influx)
    assert len(before[0]) == 7 * 3 + 4 and len(before[1]) == 50
    engine = make_engine(influx)
    record = engine.run_backup()
    assert record.state == "succeeded", record.reason
    return Taken(engine, engine.find(record.backup), before)


def test_the_backup_holds_every_series_and_verifies(taken: Taken) -> None:
    facts = taken.manifest.facts["databases"]["metrics"]
    assert facts["cpu"] == {
        "series": 21,
        "values": {"autogen.user": 3000, "autogen.n": 3000, "autogen.ok": 3000},
    }
    assert facts["mem"]["values"] == {"week.used": 50}
    # Nothing was written while it ran: the values were counted from the server's TSM
    # files (the 50 points still in the cache were flushed to them by the tool).
    assert taken.manifest.position["writes_raced"] == "no"
    assert taken.manifest.position["counted"] == "server TSM files"
    verified = taken.engine.verify(taken.manifest.id)
    assert verified.state == "succeeded", verified.reason
    assert "match the manifest" in verified.reason


def test_a_corrupt_byte_fails_verify_naming_the_object(taken: Taken) -> None:
    engine, manifest = taken.engine, taken.manifest
    name = max(manifest.objects, key=lambda o: o.size).name
    with one_byte_flipped(engine, manifest.id, name):
        failed = engine.verify(manifest.id)
    assert failed.state == "failed"
    assert f"object {name} does not match its sha256" in failed.reason


def test_a_server_that_is_down_fails_with_the_reason(
    influx: RunningComponent, taken: Taken
) -> None:
    listed = [m.id for m in taken.engine.backups()]
    influx.stop()
    try:
        down = taken.engine.run_backup()
    finally:
        influx.start()
    assert down.state == "failed"
    assert "is not answering" in down.reason
    assert [m.id for m in taken.engine.backups()] == listed


def test_chosen_databases_are_backed_up_and_restored_alone(
    influx: RunningComponent, taken: Taken
) -> None:
    rows(influx, "CREATE DATABASE other")
    write(influx, "\n".join(f"t v={i}i {1_700_000_000 + i}" for i in range(100)), db="other")
    engine = make_engine(
        influx,
        only=(
            "metrics",
            "oth*",
        ),
    )
    record = engine.run_backup()
    assert record.state == "succeeded", record.reason
    manifest = engine.find(record.backup)
    assert manifest.chosen == ["metrics", "oth*"]
    assert sorted(manifest.facts["databases"]) == ["metrics", "other"]
    assert engine.verify(manifest.id).state == "succeeded"

    unknown = make_engine(influx, only=("nosuch",)).run_backup()
    assert unknown.state == "failed"
    assert "has no database nosuch; its databases: metrics, other" in unknown.reason

    # Restore `other` alone from the two-database backup; `metrics` keeps a later point.
    write(influx, "t v=-1i 1700009999", db="other")
    write(influx, "cpu,host=later user=1 1700009999")
    only_other = make_engine(influx, only=("other",))
    _, lines = only_other.plan_restore(manifest.id, None)
    assert lines[0].startswith("replaces databases other on")
    restored = only_other.restore(manifest, None)
    assert restored.state == "succeeded", restored.reason
    assert len(rows(influx, "SELECT * FROM t", db="other")[0][1]) == 100
    assert rows(influx, "SELECT * FROM cpu WHERE host = 'later'")  # left alone
    with pytest.raises(LeapfrogError, match="has no database nosuch; its databases"):
        make_engine(influx, only=("nosuch",)).plan_restore(manifest.id, None)
    rows(influx, "DROP DATABASE other")


def test_kill_9_mid_run_is_failed_and_the_next_run_succeeds(
    influx: RunningComponent, taken: Taken
) -> None:
    rows(influx, "CREATE DATABASE bulk")
    try:  # ~8 MB of incompressible strings: the kill lands while the shards are stored
        for batch in range(4):
            start = 1_700_000_000 + batch * 1000
            write(
                influx,
                "\n".join(
                    f'pad,n={i % 10} s="{os.urandom(1000).hex()}" {start + i}' for i in range(1000)
                ),
                db="bulk",
            )
        engine = make_engine(influx)
        killed = kill_9_mid_run(influx, engine, stop_after=3 << 20)
        assert_killed_run_is_failed_and_the_next_succeeds(engine, killed)
    finally:
        rows(influx, "DROP DATABASE bulk")


def test_round_trip_through_a_wiped_data_directory(influx: RunningComponent, taken: Taken) -> None:
    # Wipe: the server restarts on an empty data directory (setup recreates `metrics`).
    influx.stop()
    for part in ("data", "meta", "wal"):
        shutil.rmtree(influx.where.data_dir / part)
    influx.start()
    assert contents(influx) == [[], []]
    write(influx, "cpu,host=later user=1 1700009999")  # written after: must not survive
    restored = taken.engine.restore(taken.manifest, None)
    assert restored.state == "succeeded", restored.reason
    assert contents(influx) == taken.before


def test_a_server_without_databases_is_failed(influx: RunningComponent, taken: Taken) -> None:
    for name in databases(influx):
        rows(influx, f'DROP DATABASE "{name}"')
    listed = [m.id for m in taken.engine.backups()]
    empty = taken.engine.run_backup()
    assert empty.state == "failed"
    assert "holds no database to back up" in empty.reason
    assert [m.id for m in taken.engine.backups()] == listed
    assert taken.engine.restore(taken.manifest, None).state == "succeeded"
    assert contents(influx) == taken.before
