"""The InfluxDB component against the real server: line-protocol writes and InfluxQL
reads, the declared databases and retention policies (created, then altered), the
instance's address only, and acknowledged points kept across kill -9."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from leapfrog.testing import RunningComponent, free_port, run_component, scratch_dir

ADDRESS = "127.0.0.24"
# Free ports: two test sessions (two worktrees) may run this file at the same time.
PORT = free_port(ADDRESS)
OPTIONS: dict[str, Any] = {
    "port": PORT,
    "rpc_port": free_port(ADDRESS),
    "databases": {
        "metrics": {"retention_policies": {"week": {"duration": "7d", "default": True}}},
        "plain": {},
    },
}


@pytest.fixture(scope="module")
def influxdb() -> Iterator[RunningComponent]:
    with (
        scratch_dir("lf-influxdb-") as base,
        run_component("influxdb", OPTIONS, base, address=ADDRESS) as running,
    ):
        yield running


def query(running: RunningComponent, statement: str, database: str = "") -> list[list[Any]]:
    url = running.env()["INFLUXDB_URL"] + "/query"
    response = httpx.post(url, params={"q": statement, "db": database}, timeout=30)
    assert response.status_code == 200, response.text
    result = response.json()["results"][0]
    assert "error" not in result, result
    return [row for series in result.get("series", []) for row in series["values"]]


def write(running: RunningComponent, database: str, lines: str) -> None:
    url = running.env()["INFLUXDB_URL"] + "/write"
    response = httpx.post(
        url, params={"db": database, "precision": "ms"}, content=lines, timeout=30
    )
    assert response.status_code == 204, response.text


@pytest.mark.timeout(180)  # the first test also starts the module's server
def test_declared_databases_and_policies_exist(influxdb: RunningComponent) -> None:
    assert {"metrics", "plain"} <= {row[0] for row in query(influxdb, "SHOW DATABASES")}
    policies = {row[0]: row for row in query(influxdb, 'SHOW RETENTION POLICIES ON "metrics"')}
    assert policies["week"][1] == "168h0m0s"
    assert policies["week"][4] is True  # the default


@pytest.mark.timeout(60)
def test_points_written_in_line_protocol_are_queried_back(influxdb: RunningComponent) -> None:
    now = int(time.time() * 1000)
    write(
        influxdb, "metrics", f"cpu,host=a,service=hello usage=0.5 {now}\ncpu,host=b usage=1.5 {now}"
    )
    rows = query(influxdb, 'SELECT sum("usage") FROM "cpu" WHERE time > now() - 1h', "metrics")
    assert rows[0][1] == 2.0
    rows = query(influxdb, 'SELECT * FROM "week"."cpu" WHERE "service" = \'hello\'', "metrics")
    assert len(rows) == 1  # written through the default policy


@pytest.mark.timeout(60)
def test_a_changed_policy_is_altered_by_setup(influxdb: RunningComponent) -> None:
    changed = {
        **OPTIONS,
        "databases": {
            "metrics": {"retention_policies": {"week": {"duration": "14d", "default": True}}}
        },
    }
    comp = influxdb.component
    asyncio.run(comp.setup(comp.options(changed), influxdb.where))
    policies = {row[0]: row for row in query(influxdb, 'SHOW RETENTION POLICIES ON "metrics"')}
    assert policies["week"][1] == "336h0m0s"
    influxdb.setup()  # and back, from the fixture's options
    policies = {row[0]: row for row in query(influxdb, 'SHOW RETENTION POLICIES ON "metrics"')}
    assert policies["week"][1] == "168h0m0s"


@pytest.mark.timeout(60)
def test_it_listens_on_the_instance_address_only(influxdb: RunningComponent) -> None:
    assert influxdb.health().ok
    for port in (PORT, OPTIONS["rpc_port"]):
        with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
            sock.connect(("127.0.0.1", port))
    with socket.create_connection((ADDRESS, OPTIONS["rpc_port"]), timeout=5):
        pass  # the backup/restore RPC service
    if os.geteuid() == 0:
        assert influxdb.popen is not None
        assert Path(f"/proc/{influxdb.popen.pid}").stat().st_uid != 0
    assert (influxdb.where.data_dir / "data").stat().st_mode & 0o077 == 0


@pytest.mark.timeout(120)
def test_acknowledged_points_survive_kill_9(influxdb: RunningComponent) -> None:
    now = int(time.time() * 1000)
    lines = "\n".join(f"kept,n={n} v={n}i {now + n}" for n in range(500))
    write(influxdb, "plain", lines)
    assert influxdb.popen is not None
    os.killpg(influxdb.popen.pid, signal.SIGKILL)
    influxdb.popen.wait(30)
    assert not influxdb.health().ok
    influxdb.start()
    assert query(influxdb, 'SELECT count("v") FROM "kept"', "plain")[0][1] == 500
