"""The HTTP/1.1 request parser: framing, limits, and fuzzed input (never raises)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leapfrog.catalog._httpparse import HttpError, Request, RequestParser

GET = b"GET /v1/kv/a%20b?recurse&tag=x&tag=y HTTP/1.1\r\nHost: x\r\n\r\n"


def feed_all(data: bytes, step: int | None = None) -> list[Request | HttpError]:
    parser = RequestParser(max_header_bytes=4096, max_body_bytes=1024)
    if step is None:
        return parser.feed(data)
    out: list[Request | HttpError] = []
    for i in range(0, len(data), step):
        out += parser.feed(data[i : i + step])
    return out


def test_a_get_with_decoded_path_and_repeated_query() -> None:
    (req,) = feed_all(GET)
    assert isinstance(req, Request)
    assert req.path == "/v1/kv/a b"
    assert req.query == [("recurse", ""), ("tag", "x"), ("tag", "y")]
    assert req.params == {"recurse": "", "tag": "x"}
    assert req.keep_alive


def test_pipelined_requests_and_bodies_split_anywhere() -> None:
    put = b"PUT /v1/kv/k HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
    for step in (1, 3, 7, None):
        got = feed_all(GET + put + GET, step)
        assert [type(r) for r in got] == [Request, Request, Request]
        assert isinstance(got[1], Request)
        assert got[1].body == b"hello"


def test_chunked_bodies_are_decoded() -> None:
    head = b"PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    data = head + b"3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n"
    for step in (1, None):
        (req,) = feed_all(data, step)
        assert isinstance(req, Request)
        assert req.body == b"abcde"


def test_connection_close_and_http10() -> None:
    (a,) = feed_all(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
    (b,) = feed_all(b"GET / HTTP/1.0\r\n\r\n")
    assert isinstance(a, Request) and isinstance(b, Request)
    assert not a.keep_alive and not b.keep_alive


def status_of(data: bytes) -> int:
    (error,) = feed_all(data)
    assert isinstance(error, HttpError)
    return error.status


def test_malformed_requests_are_clean_errors() -> None:
    assert status_of(b"GARBAGE\r\n\r\n") == 400
    assert status_of(b"GET / HTTP/2.0\r\n\r\n") == 505
    assert status_of(b"GET / HTTP/1.1\r\nbad header\r\n\r\n") == 400
    assert status_of(b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n") == 400
    assert status_of(b"GET http://h/ HTTP/1.1\r\n\r\n") == 400
    assert status_of(b"GET /%ff HTTP/1.1\r\n\r\n") == 400
    assert status_of(b"PUT / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n") == 501
    assert status_of(b"PUT / HTTP/1.1\r\nContent-Length: 2000\r\n\r\n") == 413
    assert status_of(b"GET / HTTP/1.1\r\nX: " + b"a" * 5000 + b"\r\n\r\n") == 431
    assert status_of(b"GET / HTTP/1.1\r\nX: " + b"a" * 5000) == 431


def test_after_an_error_the_parser_stops() -> None:
    parser = RequestParser()
    assert isinstance(parser.feed(b"NOPE\r\n\r\n")[0], HttpError)
    assert parser.feed(GET) == []


_PIECES = st.sampled_from(
    [
        b"GET ",
        b"PUT ",
        b"/v1/kv/x",
        b"?a=%zz",
        b" HTTP/1.1",
        b"\r\n",
        b"\r\n\r\n",
        b"Content-Length: ",
        b"Transfer-Encoding: chunked",
        b"5",
        b"ffffffffff",
        b"0\r\n\r\n",
        b":",
        b"\x00",
        b"\xff",
        b" ",
        b"\xb2",  # "²" in latin-1: a digit to str.isdigit()
        b"\xd9\xa3",  # "٣" in UTF-8
        b"Connection: upgrade\r\nUpgrade: h2c",
        b"Content-Length: 3\r\nContent-Length: 3",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_PIECES, st.binary(max_size=40)), max_size=30), st.integers(1, 64))
def test_fuzzed_input_never_raises_and_errors_end_the_stream(
    pieces: list[bytes], step: int
) -> None:
    data = b"".join(pieces)
    got = feed_all(data, step)
    errors = [i for i, r in enumerate(got) if isinstance(r, HttpError)]
    assert errors in ([], [len(got) - 1])
    for item in got:
        if isinstance(item, HttpError):
            assert 400 <= item.status < 600
        else:
            assert item.path.startswith("/")
            assert len(item.body) <= 1024


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300), st.integers(1, 300))
def test_arbitrary_bytes_never_raise(data: bytes, step: int) -> None:
    for chunk in (None, step):
        got = feed_all(data, chunk)
        assert all(isinstance(r, Request | HttpError) for r in got)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["GET", "PUT", "DELETE"]),
            st.sampled_from(["", "v1/kv/a", "a%20b", "x?y=1&z", "%E2%9C%93"]),
            st.binary(max_size=50),
        ),
        min_size=1,
        max_size=4,
    ),
    st.integers(1, 50),
)
def test_valid_pipelines_parse_the_same_however_split(
    requests: list[tuple[str, str, bytes]], step: int
) -> None:
    data = b"".join(
        f"{m} /{p} HTTP/1.1\r\nContent-Length: {len(b)}\r\n\r\n".encode() + b
        for m, p, b in requests
    )
    whole, split = feed_all(data), feed_all(data, step)
    assert whole == split
    assert [(r.method, r.body) for r in whole if isinstance(r, Request)] == [
        (m, b) for m, _, b in requests
    ]


@pytest.mark.parametrize(
    "digit", [b"\xb2", b"\xb3", b"\xb9", b"\xd9\xa3", b"\xef\xbc\x91", b"+1", b"-1"]
)
def test_content_length_takes_ascii_digits_only(digit: bytes) -> None:
    assert status_of(b"PUT / HTTP/1.1\r\nContent-Length: " + digit + b"\r\n\r\n") == 400


def test_a_trickled_header_is_cut_at_the_limit() -> None:
    parser = RequestParser(max_header_bytes=4096)
    assert parser.feed(b"GET / HTTP/1.1\r\nX: ") == []
    out: list[Request | HttpError] = []
    for _ in range(5000):
        out += parser.feed(b"a")
        if out:
            break
    assert out == [HttpError(431, "Request Header Fields Too Large")]


def test_too_many_headers_is_431() -> None:
    headers = b"".join(b"X-%d: 1\r\n" % i for i in range(101))
    assert status_of(b"GET / HTTP/1.1\r\n" + headers + b"\r\n") == 431


def test_an_upgrade_is_answered_then_the_connection_closes() -> None:
    data = b"GET / HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n" + GET
    (request,) = feed_all(data)
    assert isinstance(request, Request) and not request.keep_alive


def test_a_trickled_trailer_is_cut_at_the_head_limit() -> None:
    parser = RequestParser(max_header_bytes=4096)
    head = b"PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Trailer: "
    assert parser.feed(head) == []
    out: list[Request | HttpError] = []
    for _ in range(100):
        out += parser.feed(b"a" * 100)
        if out:
            break
    assert out == [HttpError(431, "Request Header Fields Too Large: chunk framing or trailers")]


def test_small_chunks_are_not_framing_abuse() -> None:
    body = b"".join(b"1;e=x\r\n%c\r\n" % c for c in b"hello world" * 300)
    data = b"PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + body + b"0\r\n\r\n"
    for step in (1, 7, 4096, None):
        parser = RequestParser(max_header_bytes=4096, max_body_bytes=1 << 20)
        out: list[Request | HttpError] = []
        for i in range(0, len(data), step or len(data)):
            out += parser.feed(data[i : i + (step or len(data))])
        (request,) = out
        assert isinstance(request, Request) and request.body == b"hello world" * 300


def test_pipelined_bodies_larger_than_a_head_parse_in_any_split() -> None:
    body = b"x" * 10_000
    put = b"PUT /k HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    for step in (1000, 3000, 9999, 10_050, 30_000):
        parser = RequestParser(max_header_bytes=4096, max_body_bytes=20_000)
        out: list[Request | HttpError] = []
        data = put * 5
        for i in range(0, len(data), step):
            out += parser.feed(data[i : i + step])
        assert [r.body for r in out if isinstance(r, Request)] == [body] * 5, step


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 9000), min_size=1, max_size=5),
    st.lists(st.integers(1, 12_000), min_size=1, max_size=20),
)
def test_pipelines_of_large_bodies_parse_however_split(sizes: list[int], steps: list[int]) -> None:
    data = b"".join(
        b"PUT /k HTTP/1.1\r\nX-Pad: %s\r\nContent-Length: %d\r\n\r\n" % (b"p" * (n % 3000), n)
        + b"b" * n
        for n in sizes
    )
    parser = RequestParser(max_header_bytes=4096, max_body_bytes=20_000)
    out: list[Request | HttpError] = []
    position, turn = 0, 0
    while position < len(data):
        step = steps[turn % len(steps)]
        out += parser.feed(data[position : position + step])
        position, turn = position + step, turn + 1
    assert [len(r.body) for r in out if isinstance(r, Request)] == sizes
    assert not parser.partial
