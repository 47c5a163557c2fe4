"""Flink jobs from the REST API's `/jobs/overview`, when the stack runs Flink."""

from __future__ import annotations

from typing import Any

import httpx

from leapfrog.console._errors import Unavailable

__all__ = ["flink_jobs"]


async def flink_jobs(url: str, client: httpx.AsyncClient) -> list[dict[str, Any]]:
    try:
        response = await client.get(f"{url.rstrip('/')}/jobs/overview", timeout=5.0)
        response.raise_for_status()
        jobs: list[dict[str, Any]] = response.json().get("jobs", [])
    except (httpx.HTTPError, ValueError) as exc:
        raise Unavailable(
            f"Flink's REST API at {url} does not answer ({type(exc).__name__})"
        ) from None
    return sorted(jobs, key=lambda job: -int(job.get("start-time") or 0))
