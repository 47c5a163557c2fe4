"""The HTTP probe asked to speak TLS (identity on) to a program that answers no TLS, and
its memory of which one answered (no failed handshake per probe of a plain program)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from leapfrog.shared.probes import SchemeMemory, http_probe


async def _plain_server() -> tuple[asyncio.Server, int]:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = await reader.read(1024)
        if first.startswith(b"GET "):
            writer.write(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
        else:  # a TLS ClientHello: what a plain HTTP server says to it
            writer.write(b"HTTP/1.0 400 Bad Request\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def test_tls_probe_of_a_plain_http_program_falls_back_to_http() -> None:
    async def run() -> tuple[bool, str]:
        server, port = await _plain_server()
        async with server:
            return await http_probe("127.0.0.1", port, "/health", 2.0, tls=True)

    assert asyncio.run(run()) == (True, "GET /health: HTTP 200")


def test_tls_probe_of_nothing_listening_fails_plainly() -> None:
    async def run() -> tuple[bool, str]:
        server, port = await _plain_server()
        server.close()
        await server.wait_closed()
        return await http_probe("127.0.0.1", port, "/health", 2.0, tls=True)

    ok, detail = asyncio.run(run())
    assert not ok and detail.startswith("GET /health:")


class _Counting:
    """A server that counts its connections: plain HTTP, or TLS with a self-signed cert."""

    def __init__(self, context: ssl.SSLContext | None = None, status: int = 200) -> None:
        self.context, self.status, self.connections = context, status, 0

    async def start(self) -> tuple[asyncio.Server, int]:
        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1  # counted before any handshake
            try:
                if self.context is not None:
                    await writer.start_tls(self.context)
                first = await reader.read(1024)
            except (ssl.SSLError, ConnectionError):
                first = b""  # a plain request to the TLS server: its handshake fails
            if first.startswith(b"GET "):
                writer.write(f"HTTP/1.0 {self.status} X\r\nContent-Length: 0\r\n\r\n".encode())
            elif self.context is None:  # a ClientHello to plain HTTP
                writer.write(b"HTTP/1.0 400 Bad Request\r\n\r\n")
            with contextlib.suppress(ssl.SSLError, ConnectionError):
                await writer.drain()
            writer.close()

        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        return server, server.sockets[0].getsockname()[1]


def _tls_context(tmp_path: Path) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "probe")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "c.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "k.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    return context


def _probes(server: _Counting, memory: SchemeMemory, count: int) -> list[tuple[bool, str, int]]:
    """Each probe's result and how many connections it took."""

    async def run() -> list[tuple[bool, str, int]]:
        listening, port = await server.start()
        seen = []
        async with listening:
            for _ in range(count):
                before = server.connections
                ok, detail = await http_probe(
                    "127.0.0.1", port, "/health", 2.0, tls=True, memory=memory
                )
                seen.append((ok, detail, server.connections - before))
        return seen

    return asyncio.run(run())


def test_a_plain_program_costs_one_failed_handshake_then_none() -> None:
    memory = SchemeMemory()
    seen = _probes(_Counting(), memory, 3)
    assert [s[:2] for s in seen] == [(True, "GET /health: HTTP 200")] * 3
    assert [s[2] for s in seen] == [2, 1, 1]  # TLS then plain once; plain alone after
    assert memory.plain


def test_a_tls_program_is_asked_in_tls_and_a_switch_back_is_noticed(tmp_path: Path) -> None:
    memory = SchemeMemory()
    server = _Counting(_tls_context(tmp_path))
    assert [s[2] for s in _probes(server, memory, 2)] == [1, 1]
    assert not memory.plain
    # The instance answered in plain HTTP last (it ran without identity): one plain try
    # that the TLS server drops, then TLS, remembered.
    memory.plain = True
    seen = _probes(server, memory, 2)
    assert [s[:2] for s in seen] == [(True, "GET /health: HTTP 200")] * 2
    assert [s[2] for s in seen] == [2, 1]
    assert not memory.plain


def test_a_plain_400_is_asked_again_in_tls_and_kept_when_tls_fails() -> None:
    memory = SchemeMemory(plain=True)
    seen = _probes(_Counting(status=400), memory, 1)
    assert seen == [(False, "GET /health: HTTP 400", 2)]
    assert memory.plain
