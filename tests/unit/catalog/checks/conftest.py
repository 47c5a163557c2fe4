"""Real local servers for the health-checker tests, started once per session.

One background thread runs an asyncio loop with a plain HTTP server and an HTTPS server
(self-signed certificate made with the openssl CLI) sharing one handler:

  /status/<code>?body=<text>   answer <code> with <text> (Content-Length)
  /big?size=N                  N bytes of "x" (Content-Length)
  /chunked?size=N              N bytes of "y", chunked
  /close?size=N                N bytes of "z", no length: read until close
  /slow?delay=S                wait S seconds, then 200
  /redirect?to=<url>&code=C    redirect (C defaults to 302) to <url>
  /loop                        redirect to itself
  /echo                        200 with the raw request (head and body) as the body
  /state/<key>                 the code in `states[key]` (default 200), counting hits
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import subprocess
import threading
from collections import Counter
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest


@dataclass
class Servers:
    http_port: int
    https_port: int
    states: dict[str, int] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.http_port}{path}"

    def https_url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.https_port}{path}"


def _response(code: int, body: bytes, *, length: bool = True) -> bytes:
    head = f"HTTP/1.1 {code} {HTTPStatus(code).phrase}\r\nContent-Type: text/plain\r\n"
    if length:
        head += f"Content-Length: {len(body)}\r\n"
    return (head + "Connection: close\r\n\r\n").encode() + body


def _chunked(body: bytes) -> bytes:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    pieces = [body[i : i + 1000] for i in range(0, len(body), 1000)]
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces)
    return head + chunks + b"0\r\n\r\n"


async def _answer(servers: Servers, path: str, raw: bytes) -> bytes:
    parts = urlsplit(path)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    size = int(query.get("size", "0"))
    route, _, rest = parts.path.strip("/").partition("/")
    if route == "status":
        return _response(int(rest), query.get("body", "").encode())
    if route == "big":
        return _response(200, b"x" * size)
    if route == "chunked":
        return _chunked(b"y" * size)
    if route == "close":
        return _response(200, b"z" * size, length=False)
    if route == "slow":
        await asyncio.sleep(float(query["delay"]))
        return _response(200, b"late")
    if route in ("redirect", "loop"):
        code = int(query.get("code", "302"))
        to = query.get("to", "/loop")
        head = f"HTTP/1.1 {code} {HTTPStatus(code).phrase}\r\nLocation: {to}\r\n"
        return (head + "Content-Length: 0\r\nConnection: close\r\n\r\n").encode()
    if route == "echo":
        return _response(200, raw)
    if route == "state":
        servers.hits[rest] += 1
        return _response(servers.states.get(rest, 200), rest.encode())
    return _response(404, b"no such route")


async def _handle(
    servers: Servers, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    # Closing in `finally` so a broken route fails its test at once instead of hanging.
    try:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError, ssl.SSLError):
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            raw = head + await reader.readexactly(length)
            writer.write(await _answer(servers, lines[0].split(" ")[1], raw))
            await writer.drain()
    finally:
        writer.close()


def _self_signed(directory: Path) -> ssl.SSLContext:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    tls = _self_signed(tmp_path_factory.mktemp("tls"))
    loop = asyncio.new_event_loop()
    state = Servers(0, 0)

    async def start() -> list[asyncio.Server]:
        def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> Awaitable[None]:
            return _handle(state, r, w)

        plain = await asyncio.start_server(handler, "127.0.0.1", 0)
        secure = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=tls)
        state.http_port = plain.sockets[0].getsockname()[1]
        state.https_port = secure.sockets[0].getsockname()[1]
        return [plain, secure]

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    listening = asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=10)
    yield state

    async def stop() -> None:
        for server in listening:
            server.close()

    asyncio.run_coroutine_threadsafe(stop(), loop).result(timeout=10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
