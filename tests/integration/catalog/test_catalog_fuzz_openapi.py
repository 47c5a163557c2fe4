"""Schema-driven fuzzing: requests generated from the served OpenAPI document, with bad
parameter values and mistyped bodies, get a prompt answer and never an internal error."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.catalog.conftest import CatalogProcess

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def fuzz_proc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CatalogProcess]:
    proc = CatalogProcess(Path(tmp_path_factory.mktemp("catalog-fuzz")) / "data")
    proc.start()
    yield proc
    assert proc.stop() == 0


def fetch(port: int, method: str, target: str, body: bytes | None = None) -> tuple[int, str, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, target, body=body)
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type") or "", response.read()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def operations(fuzz_proc: CatalogProcess) -> list[tuple[str, str, dict[str, Any]]]:
    status, _, body = fetch(fuzz_proc.port, "GET", "/v1/leapfrog/openapi.json")
    assert status == 200
    document = json.loads(body)
    assert document["openapi"].startswith("3.")
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


_JSON_ERRORS = ("/v1/agent/health/service/", "/v1/txn")
"""Where Consul answers errors in JSON: aggregated health (404/429/503), txn (409)."""

_BAD_TEXT = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["-1", "1e9", "", "abc", "99999999999999999999999", "1h", "true", "%zz"]),
)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


def _value_for(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """A value of the wrong type about half the time, else roughly the right one."""
    kind = schema.get("type")
    good: st.SearchStrategy[Any] = {
        "string": st.text(max_size=20) | st.sampled_from(["10s", "1ms", "passing", "x:1"]),
        "integer": st.integers(-5, 70000),
        "boolean": st.booleans(),
        "array": st.lists(st.text(max_size=8), max_size=3),
        "object": st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3),
    }.get(kind or "", _JSON)
    return st.one_of(good, _JSON)


def _body_for(schema: dict[str, Any]) -> st.SearchStrategy[bytes]:
    properties = schema.get("properties", {})
    objects = st.fixed_dictionaries(
        {}, optional={name: _value_for(sub) for name, sub in properties.items()}
    )
    return st.one_of(
        objects.map(lambda o: json.dumps(o).encode()),
        _JSON.map(lambda o: json.dumps(o).encode()),
        st.binary(max_size=64),
    )


@st.composite
def requests(
    draw: st.DrawFn, operations: list[tuple[str, str, dict[str, Any]]]
) -> tuple[str, str, bytes | None]:
    method, template, operation = draw(st.sampled_from(operations))
    path, query = template, []
    for param in operation.get("parameters", []):
        name = param["name"]
        if param["in"] == "path":
            segment = draw(st.text(min_size=0, max_size=20))
            path = path.replace("{" + name + "}", quote(segment, safe=""))
        elif draw(st.booleans()):
            # A valid index above the current one would block for minutes: bad ones only
            # (other scripts' digits are bad ones: "²" and "٣" are 400s).
            value = draw(
                _BAD_TEXT.filter(lambda v: not (v.isascii() and v.isdigit()))
                if name == "index"
                else _BAD_TEXT
            )
            query.append(f"{quote(name)}={quote(value, safe='')}")
    target = path + ("?" + "&".join(query) if query else "")
    body: bytes | None = None
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        body = draw(_body_for(content["application/json"]["schema"]))
    elif content:
        body = draw(st.binary(max_size=256))
    return method, target, body


def test_generated_bad_requests_get_prompt_clean_answers(
    fuzz_proc: CatalogProcess, operations: list[tuple[str, str, dict[str, Any]]]
) -> None:
    seen: set[int] = set()

    @settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
    @given(requests(operations))
    def one(request: tuple[str, str, bytes | None]) -> None:
        method, target, body = request
        status, content_type, answer = fetch(fuzz_proc.port, method, target, body)
        seen.add(status)
        assert 200 <= status < 600
        assert answer != b"Internal error", (method, target, body)
        if status >= 400 and not target.startswith(_JSON_ERRORS):
            assert content_type.startswith("text/plain")

    one()
    assert any(400 <= s < 500 for s in seen)
    status, _, _ = fetch(fuzz_proc.port, "GET", "/v1/agent/self")
    assert status == 200
