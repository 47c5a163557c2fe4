"""Flink jobs from the REST API: `/jobs/overview` (state, start, duration, tasks), and for
each job its throughput (records per second its sources emit now, from the aggregated
subtask metric `numRecordsOutPerSecond`, and records emitted since it started) and its
checkpoints (completed, failed, the latest's time, duration and size), when the stack
runs Flink. A job whose details do not answer (it just ended) keeps its overview row."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx

from leapfrog.console._errors import Unavailable

__all__ = ["FlinkJob", "flink_jobs"]

_DETAILED = 20
"""The newest jobs whose throughput and checkpoints are read (each is a few requests)."""


@dataclass(frozen=True)
class FlinkJob:
    overview: dict[str, Any]
    records_per_second: float | None = None
    records: int | None = None
    checkpoints: dict[str, Any] | None = None
    """Flink's `counts` and `latest.completed` of `/jobs/:id/checkpoints`."""

    @property
    def latest_checkpoint(self) -> dict[str, Any]:
        return (self.checkpoints or {}).get("latest") or {}


async def flink_jobs(url: str, client: httpx.AsyncClient) -> list[FlinkJob]:
    base = url.rstrip("/")
    try:
        response = await client.get(f"{base}/jobs/overview", timeout=5.0)
        response.raise_for_status()
        jobs: list[dict[str, Any]] = response.json().get("jobs", [])
    except (httpx.HTTPError, ValueError) as exc:
        raise Unavailable(
            f"Flink's REST API at {url} does not answer ({type(exc).__name__})"
        ) from None
    jobs.sort(key=lambda job: -int(job.get("start-time") or 0))
    detailed = await asyncio.gather(*(_details(base, job, client) for job in jobs[:_DETAILED]))
    return [*detailed, *(FlinkJob(job) for job in jobs[_DETAILED:])]


async def _get(client: httpx.AsyncClient, url: str) -> Any:
    response = await client.get(url, timeout=5.0)
    response.raise_for_status()
    return response.json()


async def _details(base: str, job: dict[str, Any], client: httpx.AsyncClient) -> FlinkJob:
    jid = job.get("jid", "")
    try:
        detail, checkpoints = await asyncio.gather(
            _get(client, f"{base}/jobs/{jid}"), _get(client, f"{base}/jobs/{jid}/checkpoints")
        )
        nodes = detail.get("plan", {}).get("nodes", [])
        heads = {node.get("id") for node in nodes if not node.get("inputs")}
        sources = [v for v in detail.get("vertices", []) if v.get("id") in heads]
        records = sum(int(v.get("metrics", {}).get("write-records", 0)) for v in sources)
        rate: float | None = None
        if job.get("state") == "RUNNING":
            rates = await asyncio.gather(
                *(
                    _get(
                        client,
                        f"{base}/jobs/{jid}/vertices/{v['id']}/subtasks/metrics"
                        "?get=numRecordsOutPerSecond&agg=sum",
                    )
                    for v in sources
                )
            )
            rate = sum(float(m.get("sum", 0)) for answer in rates for m in answer)
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return FlinkJob(job)
    latest = (checkpoints.get("latest") or {}).get("completed") or {}
    return FlinkJob(
        job, rate, records, {"counts": checkpoints.get("counts") or {}, "latest": latest}
    )
