"""One run of an HTTP or TCP check, turned into a Consul status and Output text."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from urllib.parse import urljoin

from leapfrog.catalog.checks._http import Answer, FetchError, Request, dial_error, fetch
from leapfrog.catalog.checks.api import CheckDefinition, Status
from leapfrog.shared.durations import format_duration

__all__ = ["DEFAULT_OUTPUT_MAX_SIZE", "DEFAULT_TIMEOUT", "probe_http", "probe_tcp"]

DEFAULT_TIMEOUT = 10.0
DEFAULT_OUTPUT_MAX_SIZE = 4096
_TOO_MANY_REQUESTS = 429
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 10


def _timeout(definition: CheckDefinition) -> float:
    return definition.timeout if definition.timeout > 0 else DEFAULT_TIMEOUT


def _http_status(code: int) -> Status:
    if 200 <= code < 300:
        return "passing"
    if code == _TOO_MANY_REQUESTS:
        return "warning"
    return "critical"


async def probe_http(definition: CheckDefinition) -> tuple[Status, str]:
    url = definition.http or ""
    method = definition.method.upper() or "GET"
    limit = definition.output_max_size
    if limit <= 0:
        limit = DEFAULT_OUTPUT_MAX_SIZE
    request = Request(url, method, definition.header, definition.body, definition.tls_skip_verify)
    # Go's url.Error spelling ("Get", "Post"), which Consul puts in the Output verbatim.
    operation = f'{method[:1]}{method[1:].lower()} "{url}"'
    timeout = _timeout(definition)
    try:
        answer = await _fetch_following_redirects(request, limit, timeout)
    except TimeoutError:
        duration = format_duration(timeout)
        return "critical", f"{operation}: Client.Timeout exceeded ({duration})"
    except FetchError as exc:
        return "critical", f"{operation}: {exc}"
    body = answer.body.decode("utf-8", errors="replace")
    status_line = f"{answer.status} {answer.reason}".rstrip()
    return _http_status(answer.status), f"HTTP {method} {url}: {status_line} Output: {body}"


async def _fetch_following_redirects(request: Request, limit: int, timeout: float) -> Answer:
    """Follow redirects as Go's client (and so Consul) does, all within one timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    for _ in range(_MAX_REDIRECTS + 1):
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise TimeoutError
        answer = await fetch(request, limit, remaining)
        if answer.status not in _REDIRECTS or not answer.location:
            return answer
        url = urljoin(request.url, answer.location)
        if answer.status in (307, 308):
            request = replace(request, url=url)
        else:  # 301, 302, 303: the next request is a GET (HEAD stays HEAD), without body
            method = "HEAD" if request.method == "HEAD" else "GET"
            request = replace(request, url=url, method=method, body="")
    raise FetchError(f"stopped after {_MAX_REDIRECTS} redirects")


def _split_host_port(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"address {address}: missing or bad port in address")
    return host.removeprefix("[").removesuffix("]"), int(port)


async def probe_tcp(definition: CheckDefinition) -> tuple[Status, str]:
    address = definition.tcp or ""
    try:
        host, port = _split_host_port(address)
    except ValueError as exc:
        return "critical", f"dial tcp {exc}"
    try:
        async with asyncio.timeout(_timeout(definition)):
            _, writer = await asyncio.open_connection(host, port)
    except TimeoutError:
        return "critical", f"dial tcp {address}: i/o timeout"
    except OSError as exc:
        return "critical", dial_error(host, address, exc)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return "passing", f"TCP connect {address}: Success"
