"""Every endpoint of a real catalog process with hostile values: non-finite numbers and
lone surrogates in every body field, other scripts' digits in every numeric parameter.

The routes come from the served OpenAPI document, so a new endpoint is swept too. No
answer may be an internal error, the server log must stay free of tracebacks, and every
read must still answer afterwards (nothing bad was stored)."""

from __future__ import annotations

import http.client
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.integration.catalog.conftest import CatalogProcess

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

NON_FINITE = ("NaN", "Infinity", "-Infinity", "1e999")
BAD_DIGITS = ("²", "٣", "１", "1²", "𝟙")
READS = (
    "/v1/agent/checks",
    "/v1/agent/services",
    "/v1/health/state/any",
    "/v1/health/node/hostile",
    "/v1/catalog/services",
    "/v1/catalog/node/hostile",
    "/v1/session/list",
    "/v1/agent/metrics",
)


@pytest.fixture(scope="module")
def hostile_proc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CatalogProcess]:
    """Its own catalog (once for this module): the sweep stores odd names."""
    proc = CatalogProcess(tmp_path_factory.mktemp("catalog-hostile") / "data", node="hostile")
    proc.start()
    yield proc
    assert proc.stop() == 0


def fetch(port: int, method: str, target: str, body: bytes | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, target, body=body)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _document() -> dict[str, Any]:
    from leapfrog.catalog._openapi import openapi_document

    return openapi_document()


def _operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in _document()["paths"].items()
        for method, operation in item.items()
    ]


def _concrete(path: str) -> str:
    """The path with its parameters filled (ids that exist or not, either is fine)."""
    for name in ("id", "name", "node", "state", "key"):
        path = path.replace("{" + name + "}", {"state": "any", "node": "hostile"}.get(name, "x"))
    return path


def _json_operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (m, p, op["requestBody"]["content"]["application/json"]["schema"])
        for m, p, op in _operations()
        if "application/json" in op.get("requestBody", {}).get("content", {})
    ]


def _bodies(schema: dict[str, Any], bad: str) -> Iterator[str]:
    """`bad` (raw JSON text) in each field, nested fields included, and as the whole."""
    yield bad
    yield f"[{bad}]"
    for name, sub in schema.get("properties", {}).items():
        yield f'{{"{name}": {bad}}}'
        yield f'{{"{name}": [{bad}]}}'
        for inner in sub.get("properties", {}):
            yield f'{{"{name}": {{"{inner}": {bad}}}}}'
    if schema.get("type") == "array":  # txn: operations of KV fields
        for field in ("Verb", "Key", "Value", "Flags", "Index", "Session"):
            yield f'[{{"KV": {{"Verb": "set", "Key": "k", "{field}": {bad}}}}}]'


def _assert_no_internal_error(proc: CatalogProcess) -> None:
    log = (proc.data_dir.parent / "catalog.log").read_text(errors="replace")
    assert "Traceback" not in log and "handler failed" not in log, log[-3000:]
    for target in READS:
        status, _ = fetch(proc.port, "GET", target)
        assert status == 200, target


@pytest.mark.parametrize("number", NON_FINITE)
def test_non_finite_numbers_in_every_body_field_are_400(
    hostile_proc: CatalogProcess, number: str
) -> None:
    sent = 0
    for method, path, schema in _json_operations():
        for body in _bodies(schema, number):
            status, answer = fetch(hostile_proc.port, method, _concrete(path), body.encode())
            # With ACL off the ACL API answers 401 before it reads a body, as Consul does
            # (the ACL-on answers to such bodies are in tests/unit/catalog).
            expected = 401 if path.startswith("/v1/acl/") else 400
            assert status == expected, (method, path, body, answer)
            sent += 1
    assert sent > 50
    _assert_no_internal_error(hostile_proc)


@pytest.mark.parametrize("text", ['"\\ud800"', '"\\udfff"', '"a\\udc00b"', '"\\ud800\\u0000"'])
def test_invalid_strings_in_every_body_field_never_break_an_answer(
    hostile_proc: CatalogProcess, text: str
) -> None:
    for method, path, schema in _json_operations():
        for body in _bodies(schema, text):
            status, answer = fetch(hostile_proc.port, method, _concrete(path), body.encode())
            assert answer != b"Internal error", (method, path, body)
            answer.decode("utf-8")
            assert status < 500 or answer  # Consul's own 500s carry their text
    _assert_no_internal_error(hostile_proc)


@pytest.mark.parametrize("digit", BAD_DIGITS)
def test_numeric_parameters_of_every_route_take_ascii_digits_only(
    hostile_proc: CatalogProcess, digit: str
) -> None:
    swept = 0
    for method, path, operation in _operations():
        for param in operation.get("parameters", []):
            if param["in"] != "query" or param.get("schema", {}).get("type") != "integer":
                continue
            target = f"{_concrete(path)}?{param['name']}={quote(digit)}"
            status, answer = fetch(hostile_proc.port, method, target, b"v")
            assert status == 400, (method, target, answer)
            assert answer.startswith(b"Invalid "), answer
            swept += 1
    assert swept >= 10
    _assert_no_internal_error(hostile_proc)


@pytest.mark.parametrize("length", [b"\xb2", b"\xb3", b"\xb9", b"\xd9\xa3", b"1\xb2", b"+5"])
def test_content_length_with_a_non_ascii_digit_is_answered_400(
    hostile_proc: CatalogProcess, length: bytes
) -> None:
    data = b"PUT /v1/kv/x HTTP/1.1\r\nContent-Length: " + length + b"\r\n\r\nhello"
    with socket.create_connection(("127.0.0.1", hostile_proc.port), timeout=10) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400 Bad Request"), answer
    log = (hostile_proc.data_dir.parent / "catalog.log").read_text(errors="replace")
    assert "Fatal error" not in log and "Traceback" not in log


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_junk_parameters_on_a_large_blocking_read_do_not_grow_memory(
    hostile_proc: CatalogProcess,
) -> None:
    """40 URLs that differ only in parameters that change nothing (or only `pretty`)
    on a 4 MB KV tree: before, each added a cached answer of ~8 MiB for good."""
    value = os.urandom(48 * 1024).hex().encode()[: 64 * 1024]
    for n in range(64):
        status, _ = fetch(hostile_proc.port, "PUT", f"/v1/kv/big/{n:02d}", value)
        assert status == 200
    assert hostile_proc.proc is not None
    pid = hostile_proc.proc.pid
    status, _ = fetch(hostile_proc.port, "GET", "/v1/kv/big/?recurse&index=1")
    assert status == 200
    before = _rss_mib(pid)
    for n in range(40):
        junk = f"/v1/kv/big/?recurse&index=1&junk{n}={n}&cachebuster={os.urandom(4).hex()}"
        assert fetch(hostile_proc.port, "GET", junk)[0] == 200
    for n in range(20):  # read by the route: separate answers, bounded by the cache
        assert fetch(hostile_proc.port, "GET", f"/v1/kv/big/?recurse&index=1&pretty={n}")[0] == 200
    grown = _rss_mib(pid) - before
    print(f"RSS {before:.0f} MiB -> grew {grown:.0f} MiB")
    assert grown < 120, f"RSS grew {grown:.0f} MiB"


def test_poison_on_disk_is_quarantined_at_start_and_reads_answer(tmp_path: Path) -> None:
    """A snapshot written by an older catalog that took `"Timeout": NaN`: reads broke for
    every caller, after every restart. Now the record is set aside with a log line."""
    data = tmp_path / "data"
    proc = CatalogProcess(data, node="poisoned")
    proc.start()
    status, _ = fetch(proc.port, "PUT", "/v1/agent/service/register", b'{"Name":"web","Port":80}')
    assert status == 200
    assert proc.stop() == 0
    snapshot = json.loads((data / "snapshot.json").read_text())
    good = next(c for c in snapshot["checks"] if c["id"] == "serfHealth")
    bad = dict(good, id="poison", name="poison", service_id="web")
    bad["definition"] = {"check_id": "poison", "kind": "tcp", "tcp": "127.0.0.1:1"}
    bad["definition"].update(interval=float("nan"), timeout=float("nan"))
    snapshot["checks"].append(bad)
    (data / "snapshot.json").write_text(json.dumps(snapshot))
    proc.start()
    try:
        for target in (*READS, "/v1/health/service/web", "/v1/health/checks/web"):
            status, _ = fetch(proc.port, "GET", target.replace("hostile", "poisoned"))
            assert status == 200, target
        status, body = fetch(proc.port, "GET", "/v1/agent/checks")
        assert b"poison" not in body
    finally:
        assert proc.stop() == 0
    log = (tmp_path / "catalog.log").read_text()
    assert "quarantined a bad record from snapshot.json check" in log
    assert "poison" in (data / "quarantine.jsonl").read_text()
