"""The InfluxDB driver's queries: a shard reopening (right after a restore) is asked again,
anything else refused at once with the server's reason."""

from __future__ import annotations

import httpx
import pytest

from leapfrog.backup import influxdb
from leapfrog.backup.driver import BackupError


def server(answers: list[dict[str, object]]) -> tuple[influxdb._Http, list[str]]:
    asked: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.params["q"])
        return httpx.Response(200, json=answers.pop(0))

    http = influxdb._Http("127.0.0.1", 8086, "influxdb-1")
    http._client = httpx.Client(transport=httpx.MockTransport(answer), base_url="http://x")
    return http, asked


REOPENING = {"results": [{"statement_id": 0, "error": "engine is closed"}]}
MEASUREMENTS = {"results": [{"series": [{"name": "measurements", "values": [["cpu"]]}]}]}


def test_a_shard_reopening_is_asked_again() -> None:
    http, asked = server([REOPENING, REOPENING, MEASUREMENTS])
    assert http.query("SHOW MEASUREMENTS", "metrics") == [["cpu"]]
    assert asked == ["SHOW MEASUREMENTS"] * 3


def test_other_errors_are_refused_at_once_with_the_reason() -> None:
    http, asked = server([{"results": [{"error": "database not found: nope"}]}])
    with pytest.raises(BackupError, match="refused `SHOW MEASUREMENTS`: database not found"):
        http.query("SHOW MEASUREMENTS", "nope")
    assert len(asked) == 1


def test_a_shard_that_stays_closed_is_refused_after_the_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(influxdb, "_REOPEN_WAIT", 0.3)
    http, asked = server([REOPENING] * 10)
    with pytest.raises(BackupError, match="engine is closed"):
        http.query("SHOW MEASUREMENTS", "metrics")
    assert 1 < len(asked) < 10
