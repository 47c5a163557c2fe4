"""The Streams page's reading of Flink's REST API (a fake Flink: unit tests only): a
job's throughput from its sources and its checkpoints, and a job whose details fail
keeping its overview row."""

from __future__ import annotations

import asyncio
import json

import httpx

from leapfrog.console._flink import flink_jobs

OVERVIEW = {
    "jobs": [
        {"jid": "a1", "name": "service-stats", "state": "RUNNING", "start-time": 2, "duration": 9},
        {"jid": "b2", "name": "gone", "state": "FINISHED", "start-time": 1, "duration": 5},
    ]
}
DETAIL = {
    "plan": {"nodes": [{"id": "src"}, {"id": "agg", "inputs": [{"id": "src"}]}]},
    "vertices": [
        {"id": "src", "metrics": {"write-records": 1200, "read-records": 0}},
        {"id": "agg", "metrics": {"write-records": 40, "read-records": 1200}},
    ],
}
CHECKPOINTS = {
    "counts": {"completed": 7, "failed": 1, "in_progress": 0},
    "latest": {"completed": {"end_to_end_duration": 35, "state_size": 4096}},
}


def _flink(request: httpx.Request) -> httpx.Response:
    path = request.url.path
    answers = {
        "/jobs/overview": OVERVIEW,
        "/jobs/a1": DETAIL,
        "/jobs/a1/checkpoints": CHECKPOINTS,
        "/jobs/a1/vertices/src/subtasks/metrics": [{"id": "numRecordsOutPerSecond", "sum": 12.5}],
    }
    if path in answers:
        return httpx.Response(200, content=json.dumps(answers[path]))
    return httpx.Response(404, json={"errors": ["not found"]})


def test_throughput_from_the_sources_and_the_checkpoints() -> None:
    async def read() -> list[object]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(_flink)) as client:
            return list(await flink_jobs("http://flink:8081/", client))

    running, gone = asyncio.run(read())
    assert running.overview["name"] == "service-stats"  # type: ignore[attr-defined]
    assert running.records == 1200  # type: ignore[attr-defined]  # the source's, not the sum
    assert running.records_per_second == 12.5  # type: ignore[attr-defined]
    assert running.checkpoints["counts"]["completed"] == 7  # type: ignore[attr-defined]
    assert running.latest_checkpoint["state_size"] == 4096  # type: ignore[attr-defined]
    assert gone.overview["name"] == "gone"  # type: ignore[attr-defined]
    assert gone.records is None and gone.checkpoints is None  # type: ignore[attr-defined]
