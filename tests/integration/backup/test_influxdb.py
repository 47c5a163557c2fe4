"""The InfluxDB driver against the real influxd 1.8: round trip through a wiped data
directory (points written just before the backup included), verify by restore into a
scratch server (and a corrupt byte named), and a server that is down."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from leapfrog.testing import RunningComponent, free_port

from .conftest import make_engine, own_component

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


def write(influx: RunningComponent, lines: str, rp: str = "") -> None:
    params = {"db": "metrics", "precision": "s", "rp": rp}
    response = httpx.post(f"{url(influx)}/write", params=params, content=lines, timeout=30)
    assert response.status_code == 204, response.text


def rows(influx: RunningComponent, statement: str) -> list[Any]:
    params = {"q": statement, "db": "metrics"}
    body = httpx.post(f"{url(influx)}/query", params=params, timeout=30).json()
    result = body["results"][0]
    assert "error" not in result, result
    return [(s.get("tags"), s["values"]) for s in result.get("series", [])]


def contents(influx: RunningComponent) -> list[Any]:
    return [
        rows(influx, 'SELECT * FROM "metrics"."autogen"./.*/ GROUP BY *'),
        rows(influx, 'SELECT * FROM "metrics"."week"./.*/ GROUP BY *'),
    ]


def test_round_trip_down_verify_and_a_corrupt_byte(influx: RunningComponent) -> None:
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
    manifest = engine.find(record.backup)
    facts = manifest.facts["databases"]["metrics"]
    assert facts["cpu"] == {
        "series": 21,
        "values": {"autogen.user": 3000, "autogen.n": 3000, "autogen.ok": 3000},
    }
    assert facts["mem"]["values"] == {"week.used": 50}

    verified = engine.verify(record.backup)
    assert verified.state == "succeeded", verified.reason
    assert "match the manifest" in verified.reason

    # A server that is down: the run fails saying so, and lists no backup.
    influx.stop()
    down = engine.run_backup()
    assert down.state == "failed"
    assert "is not answering" in down.reason
    assert [m.id for m in engine.backups()] == [manifest.id]

    # Wipe: the server restarts on an empty data directory (setup recreates `metrics`).
    for part in ("data", "meta", "wal"):
        shutil.rmtree(influx.where.data_dir / part)
    influx.start()
    assert contents(influx) == [[], []]
    write(influx, "cpu,host=later user=1 1700009999")  # written after: must not survive
    restored = engine.restore(manifest, None)
    assert restored.state == "succeeded", restored.reason
    assert contents(influx) == before

    name = max(manifest.objects, key=lambda o: o.size).name
    path = engine.storage.local_path(f"influxdb/backups/{manifest.id}/{name}")
    assert path is not None
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    failed = engine.verify(manifest.id)
    assert failed.state == "failed"
    assert f"object {name} does not match its sha256" in failed.reason
