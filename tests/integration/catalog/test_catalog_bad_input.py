"""Bad input over real sockets: clean 4xx/5xx answers and a server that keeps running."""

from __future__ import annotations

import socket

import consul
import pytest

from tests.integration.catalog.conftest import CatalogProcess

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n", b"400"),
        (b"GET /v1/agent/self HTTP/1.1\r\nX: " + b"a" * 200_000 + b"\r\n\r\n", b"431"),
        (b"PUT /v1/kv/x HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n", b"413"),
        (b"PUT /v1/agent/service/register HTTP/1.1\r\nContent-Length: 1\r\n\r\n{", b"400"),
        (b"GET /v1/health/service/%zz%ff HTTP/1.1\r\n\r\n", b"400"),
        (b"GET /v1/kv/x?index=1&wait=1000000000000h HTTP/1.1\r\n\r\n", b"400"),
    ],
)
def test_garbage_gets_a_clean_error(
    catalog_proc: CatalogProcess, data: bytes, status: bytes
) -> None:
    answer = exchange(catalog_proc.port, data)
    assert answer.split(b" ", 2)[1] == status
    assert catalog_proc.client().agent.self()["Config"]["NodeName"] == "itest"


def test_keep_alive_serves_many_requests_on_one_connection(catalog_proc: CatalogProcess) -> None:
    request = b"GET /v1/status/leader HTTP/1.1\r\nHost: x\r\n\r\n"
    answer = exchange(catalog_proc.port, request * 50)
    assert answer.count(b"HTTP/1.1 200 OK") == 50


def test_oversized_kv_value_is_413(catalog_proc: CatalogProcess) -> None:
    c: consul.Consul = catalog_proc.client()
    with pytest.raises(consul.ConsulException, match="413"):
        c.kv.put("big", "x" * (512 * 1024 + 1))
