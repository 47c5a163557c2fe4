"""A small asyncio HTTP/1.1 client for health checks: one request per connection.

It reads the status line, the headers and at most `limit` bytes of body (Content-Length,
chunked, or until the server closes), then drops the connection. Errors are raised as
`FetchError` carrying Go-style text ("dial tcp 127.0.0.1:1: connect: connection
refused"), because that text ends up in the check's Output, where Consul users expect it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import urlsplit

__all__ = ["Answer", "FetchError", "Request", "dial_error", "fetch"]

_MAX_HEADER_LINES = 200
_CLOSE_GRACE = 1.0
_NO_BODY_STATUSES = frozenset({204, 304})


@dataclass(frozen=True)
class Request:
    url: str
    method: str = "GET"
    header: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    body: str = ""
    tls_skip_verify: bool = False


@dataclass(frozen=True)
class Answer:
    status: int
    reason: str
    body: bytes
    """At most `limit` bytes; fewer if the server sent fewer or was too slow."""
    location: str = ""


class FetchError(Exception):
    """The exchange failed before a status line and headers arrived."""


@dataclass(frozen=True)
class _Target:
    tls: bool
    host: str
    port: int
    host_header: str
    path: str


def _target(url: str) -> _Target:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise FetchError(f"parse {url!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise FetchError(f"unsupported protocol scheme {parts.scheme!r}")
    if not parts.hostname:
        raise FetchError("no Host in request URL")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    netloc = parts.netloc.rpartition("@")[2]
    tls = scheme == "https"
    return _Target(tls, parts.hostname, port or (443 if tls else 80), netloc, path)


def _request_bytes(request: Request, target: _Target) -> bytes:
    given = {name.lower() for name in request.header}
    lines = [f"{request.method} {target.path} HTTP/1.1"]
    if "host" not in given:
        lines.append(f"Host: {target.host_header}")
    if "user-agent" not in given:
        lines.append("User-Agent: Consul Health Check")
    if "accept" not in given:
        lines.append("Accept: text/plain, text/*, */*")
    lines.extend(f"{name}: {value}" for name, values in request.header.items() for value in values)
    body = request.body.encode()
    if body or request.method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    # One exchange per connection: Consul's checker does not keep connections alive.
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", errors="replace") + body


def dial_error(host: str, address: str, exc: OSError) -> str:
    """Go's wording for a failed dial, e.g. "dial tcp 127.0.0.1:1: connect: connection refused"."""
    if isinstance(exc, socket.gaierror):
        return f"dial tcp: lookup {host}: {exc.strerror or exc}"
    # asyncio's own message ("Connect call failed ...") hides the reason behind the errno.
    reason = os.strerror(exc.errno) if exc.errno else str(exc) or type(exc).__name__
    return f"dial tcp {address}: connect: {reason.lower()}"


def _tls_context(skip_verify: bool) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


async def _connect(
    request: Request, target: _Target
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    context = _tls_context(request.tls_skip_verify) if target.tls else None
    try:
        return await asyncio.open_connection(
            target.host,
            target.port,
            ssl=context,
            server_hostname=target.host if context else None,
        )
    except ssl.SSLCertVerificationError as exc:
        raise FetchError(f"tls: failed to verify certificate: {exc.verify_message}") from None
    except ssl.SSLError as exc:
        raise FetchError(f"tls: {exc.reason or exc}") from None
    except OSError as exc:
        raise FetchError(dial_error(target.host, f"{target.host}:{target.port}", exc)) from None


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, str, dict[str, str]]:
    """Status and headers (names lowercased) of the final, non-1xx response."""
    while True:
        line = await reader.readline()
        if not line:
            raise FetchError("EOF")
        parts = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise FetchError(f"malformed HTTP response {line[:80]!r}")
        status = int(parts[1])
        reason = parts[2].strip() if len(parts) == 3 else ""
        headers = await _read_headers(reader)
        if not 100 <= status < 200:
            if not reason:
                with contextlib.suppress(ValueError):
                    reason = HTTPStatus(status).phrase
            return status, reason, headers


async def _read_headers(reader: asyncio.StreamReader) -> dict[str, str]:
    headers: dict[str, str] = {}
    for _ in range(_MAX_HEADER_LINES):
        line = (await reader.readline()).decode("latin-1").rstrip("\r\n")
        if not line:
            return headers
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    raise FetchError("malformed HTTP response: too many header lines")


async def _read_up_to(reader: asyncio.StreamReader, count: int, into: bytearray) -> bool:
    """Append up to count bytes; False if the stream ended first."""
    goal = len(into) + count
    while len(into) < goal:
        chunk = await reader.read(goal - len(into))
        if not chunk:
            return False
        into += chunk
    return True


async def _read_chunked(reader: asyncio.StreamReader, limit: int, into: bytearray) -> None:
    while len(into) < limit:
        size_text = (await reader.readline()).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            return
        if size == 0:
            return
        wanted = min(size, limit - len(into))
        if not await _read_up_to(reader, wanted, into) or wanted < size:
            return
        await reader.readline()  # the CRLF closing the chunk


async def _read_body(
    reader: asyncio.StreamReader, headers: Mapping[str, str], limit: int, into: bytearray
) -> None:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        await _read_chunked(reader, limit, into)
        return
    length = headers.get("content-length", "")
    wanted = min(int(length), limit) if length.isdigit() else limit
    await _read_up_to(reader, wanted, into)


async def _exchange(request: Request, target: _Target, limit: int, deadline: float) -> Answer:
    async with asyncio.timeout_at(deadline):
        reader, writer = await _connect(request, target)
    try:
        async with asyncio.timeout_at(deadline):
            writer.write(_request_bytes(request, target))
            await writer.drain()
            status, reason, headers = await _read_head(reader)
        body = bytearray()
        if request.method != "HEAD" and status not in _NO_BODY_STATUSES:
            # Like Consul, a body that breaks off or runs late still leaves the status.
            with contextlib.suppress(OSError, ValueError):
                async with asyncio.timeout_at(deadline):
                    await _read_body(reader, headers, limit, body)
    except BaseException:
        writer.transport.abort()
        raise
    writer.close()
    with contextlib.suppress(OSError):
        async with asyncio.timeout(_CLOSE_GRACE):
            await writer.wait_closed()
    return Answer(status, reason, bytes(body), headers.get("location", ""))


async def fetch(request: Request, limit: int, timeout: float) -> Answer:
    """One exchange bounded by timeout (TimeoutError); other failures raise FetchError."""
    target = _target(request.url)
    deadline = asyncio.get_running_loop().time() + timeout
    try:
        return await _exchange(request, target, limit, deadline)
    except TimeoutError:
        raise
    except OSError as exc:
        why = (exc.strerror or str(exc) or type(exc).__name__).lower()
        raise FetchError(f"read tcp {target.host}:{target.port}: {why}") from None
    except ValueError:  # a line longer than the stream reader's limit
        raise FetchError("malformed HTTP response: header line too long") from None
