"""One HTTP request to a component's REST API, for health probes and setup steps.

A probe never raises: a connection error, a timeout, an error status or a body that is not
JSON all come back as a one-line reason, for the instance's health detail.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from leapfrog.shared.tls import plain_http_context

__all__ = ["RestAnswer", "rest_call"]

RestAnswer = tuple[Any, None] | tuple[None, str]
"""(the decoded JSON body, None) or (None, why there is none)."""


async def rest_call(
    method: str,
    url: str,
    *,
    timeout: float,
    params: Mapping[str, str] | None = None,
    json: Any = None,
    expect_json: bool = True,
) -> RestAnswer:
    """`method url`; the JSON body of a 2xx answer (or {} when `expect_json` is off)."""
    import httpx  # loaded on first use: every CLI command imports the registry

    try:
        async with httpx.AsyncClient(timeout=timeout, verify=plain_http_context()) as client:
            response = await client.request(method, url, params=params, json=json)
    except httpx.TimeoutException:
        return None, f"{method} {url}: no answer within {timeout:g}s"
    except httpx.HTTPError as exc:
        return None, f"{method} {url}: {exc or type(exc).__name__}"
    if not 200 <= response.status_code < 300:
        return None, f"{method} {url}: HTTP {response.status_code} {_short(response.text)}"
    if not expect_json:
        return {}, None
    try:
        return response.json(), None
    except ValueError:
        return None, f"{method} {url}: not JSON: {_short(response.text)}"


def _short(text: str) -> str:
    return " ".join(text.split())[:160]
