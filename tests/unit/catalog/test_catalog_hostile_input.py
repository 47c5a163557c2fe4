"""Hostile input in process: numbers, non-finite JSON, lone surrogates, stored poison.

Each case answered 500 (or stored a value that broke reads) before it was fixed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import pytest
from catalog_fakes import READS as FAKE_READS
from catalog_fakes import FakeChecker, call, make_api, make_store
from hypothesis import given, settings
from hypothesis import strategies as st

from leapfrog.catalog._api import Api
from leapfrog.catalog._body import decode_json
from leapfrog.catalog._godur import parse_go_duration
from leapfrog.catalog._params import parse_uint
from leapfrog.catalog._store import Store

READS = FAKE_READS


def run(scenario: Callable[[Store, Api], Awaitable[None]]) -> None:
    async def main() -> None:
        store = make_store()
        store.start_checks(FakeChecker())
        await scenario(store, make_api(store))

    asyncio.run(main())


@pytest.mark.parametrize("digit", ["²", "³", "¹", "٣", "１", "𝟙", "1²", " 1", "+1", "1_0", "-0"])
@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("GET", "/v1/kv/k?index={}"),
        ("GET", "/v1/health/service/web?index={}"),
        ("PUT", "/v1/kv/k?cas={}"),
        ("PUT", "/v1/kv/k?flags={}"),
        ("DELETE", "/v1/kv/k?cas={}"),
    ],
)
def test_numeric_parameters_take_ascii_digits_only(method: str, target: str, digit: str) -> None:
    async def scenario(store: Store, api: Api) -> None:
        from urllib.parse import quote

        response = await call(api, method, target.format(quote(digit)), b"v")
        assert response.status == 400, response.body
        assert response.body.startswith(b"Invalid ")

    run(scenario)


def test_parse_uint_is_the_one_number_parser() -> None:
    assert parse_uint("0") == 0
    assert parse_uint("18446744073709551615") == 2**64 - 1
    for bad in ("", "18446744073709551616", "²", "٣", "1.0", "0x1", "1e3", "١٢"):
        assert parse_uint(bad) is None, bad
    assert parse_uint("65536", 65535) is None


@given(st.text(max_size=12))
def test_parse_uint_never_raises(text: str) -> None:
    value = parse_uint(text)
    assert value is None or (text.isascii() and str(value) == text.lstrip("0").rjust(1, "0"))


NON_FINITE = [b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e999", b"1E400"]


@pytest.mark.parametrize("number", NON_FINITE)
@pytest.mark.parametrize(
    ("target", "template"),
    [
        ("/v1/agent/service/register", b'{"Name":"web","Port":%s}'),
        ("/v1/agent/service/register", b'{"Name":"web","Weights":{"Passing":%s}}'),
        ("/v1/agent/service/register", b'{"Name":"web","Check":{"TTL":%s}}'),
        ("/v1/agent/service/register", b'{"Name":"web","Check":{"HTTP":"http://x","Interval":%s}}'),
        ("/v1/agent/check/register", b'{"Name":"c","TTL":"10s","Timeout":%s}'),
        (
            "/v1/agent/check/register",
            b'{"Name":"c","TTL":"10s","DeregisterCriticalServiceAfter":%s}',
        ),
        ("/v1/agent/check/register", b'{"Name":"c","TCP":"h:1","Interval":%s}'),
        ("/v1/session/create", b'{"LockDelay":%s}'),
        (
            "/v1/catalog/register",
            b'{"Node":"node1","Address":"a","Service":{"Service":"s","Port":%s}}',
        ),
        ("/v1/txn", b'[{"KV":{"Verb":"set","Key":"k","Flags":%s}}]'),
        ("/v1/agent/check/update/c", b'{"Status":"passing","Output":%s}'),
    ],
)
def test_non_finite_numbers_are_400_and_store_nothing(
    target: str, template: bytes, number: bytes
) -> None:
    async def scenario(store: Store, api: Api) -> None:
        response = await call(api, "PUT", target, template % number)
        assert response.status == 400, response.body
        for read in READS:
            assert (await call(api, "GET", read)).status == 200, read

    run(scenario)


@pytest.mark.parametrize(
    ("target", "body"),
    [
        ("/v1/session/create", b'{"TTL":"\\ud800"}'),
        ("/v1/session/create", b'{"Behavior":"\\udfff"}'),
        ("/v1/session/create", b'{"Node":"\\ud800"}'),
        ("/v1/agent/check/register", b'{"Name":"c","TTL":"\\ud800"}'),
        ("/v1/agent/check/register", b'{"Name":"c","TTL":"10s","Status":"\\ud800"}'),
        ("/v1/agent/check/register", b'{"Name":"c","TTL":"10s","ServiceID":"\\ud800"}'),
        ("/v1/agent/service/register", b'{"Name":"\\ud800","Check":{"TCP":"\\udc00"}}'),
        ("/v1/agent/service/register", b'{"Name":"web","Meta":{"\\ud800":"\\ud800"}}'),
        ("/v1/catalog/register", b'{"Node":"\\ud800","Address":"a"}'),
        ("/v1/txn", b'[{"KV":{"Verb":"\\ud800","Key":"k"}}]'),
        ("/v1/txn", b'[{"KV":{"Verb":"get","Key":"\\ud800"}}]'),
    ],
)
def test_lone_surrogates_never_break_an_answer(target: str, body: bytes) -> None:
    async def scenario(store: Store, api: Api) -> None:
        response = await call(api, "PUT", target, body)
        assert response.status != 500 or b"Internal error" not in response.body
        response.encode(close=False)  # encodable, whatever the status
        response.body.decode("utf-8")
        for read in (*READS, "/v1/kv/?recurse", "/v1/catalog/services"):
            answer = await call(api, "GET", read)
            assert answer.status in (200, 404), read
            answer.body.decode("utf-8")

    run(scenario)


def test_json_decoder_refuses_non_finite_and_replaces_lone_surrogates() -> None:
    for number in NON_FINITE:
        with pytest.raises(ValueError):
            decode_json(b'{"a":[%s]}' % number)
    assert decode_json(b'{"\\ud800k":["\\udfff", "\\ud83d\\ude00"]}') == {
        "\ufffdk": ["\ufffd", "\U0001f600"]
    }
    with pytest.raises(ValueError):
        decode_json(b'"\xed\xa0\x80"')  # a surrogate as raw bytes is not UTF-8
    with pytest.raises(ValueError):
        decode_json(b"[" * 100_000)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_json_decoder_over_arbitrary_bytes_raises_only_value_error(data: bytes) -> None:
    try:
        decoded = decode_json(data)
    except ValueError:
        return
    json.dumps(decoded, allow_nan=False).encode("utf-8")


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats()
        | st.text(alphabet=st.characters(min_codepoint=0xD7F0, max_codepoint=0xE010)),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
        max_leaves=8,
    )
)
def test_json_decoder_over_arbitrary_documents(document: object) -> None:
    raw = json.dumps(document).encode()  # may hold NaN, Infinity and lone surrogates
    try:
        decoded = decode_json(raw)
    except ValueError:
        assert b"NaN" in raw or b"Infinity" in raw
        return
    json.dumps(decoded, allow_nan=False, ensure_ascii=False).encode("utf-8")


@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), 10**400, "1²s", "٣s", "9" * 400 + "h"]
)
def test_go_durations_refuse_what_go_refuses(value: object) -> None:
    with pytest.raises(ValueError):
        parse_go_duration(value)
