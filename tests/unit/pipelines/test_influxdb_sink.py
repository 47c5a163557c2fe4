"""The InfluxDB sink against httpx.MockTransport: lines checked, timestamps kept or
given, a refused batch split until the refused lines are found."""

from __future__ import annotations

import httpx
import pytest

from leapfrog.pipelines import InfluxSink, Rejected, SinkUnavailable, check_line


def sink_with(handler: object) -> InfluxSink:
    return InfluxSink(
        "http://influx:8086",
        database="stack",
        transport=httpx.MockTransport(handler),  # type: ignore[arg-type]
    )


def never(request: httpx.Request) -> httpx.Response:
    raise AssertionError("no request expected")


@pytest.mark.parametrize(
    "line",
    [
        "cpu value=1.0 1700000000000000000",
        "cpu,host=a,region=eu value=1",
        r'my\ measurement,tag\,key=v\ 1 value=-1.5e3,count=3i,ok=t,n=5u,s="x" 1',
        'm f="a \\"quoted\\" string, with = signs"',
        "m value=.5",
    ],
)
def test_valid_lines(line: str) -> None:
    assert check_line(line).error == ""


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("cpu", "no fields"),
        ("cpu value=abc", "not a number"),
        ("cpu value=1 12:00", "not an integer"),
        (",host=a value=1", "no measurement"),
        ("cpu,host value=1", "no key=value"),
        ("cpu,host= value=1", "empty value"),
        ('cpu s="open', "not closed"),
        ("cpu value=", "no value"),
        (" cpu value=1", "no measurement"),
    ],
)
def test_invalid_lines(line: str, problem: str) -> None:
    assert problem in check_line(line).error


def test_decode_keeps_timestamps_gives_the_record_time_and_rejects_bad_lines() -> None:
    value = b"a value=1 123\nb value=2\n\nbroken\n# a comment\n"
    decoded = sink_with(never).decode(value, 1_700_000_000_000)
    assert [item.text for item in decoded.items] == [
        "a value=1 123",
        "b value=2 1700000000000000000",
    ]
    [rejected] = decoded.rejected
    assert rejected.payload == b"broken" and "no fields" in rejected.reason


def test_a_record_of_nothing_is_rejected() -> None:
    assert sink_with(never).decode(b"\n\n", None).rejected[0].reason == "no line-protocol lines"
    assert sink_with(never).decode(b"\xff", None).rejected[0].reason == "not UTF-8"


def test_write_posts_ns_lines_to_the_database() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    sink = sink_with(handler)
    items = sink.decode(b"a value=1 1\nb value=2 2", None).items
    assert sink.write(items) == [None, None]
    [request] = seen
    assert request.url.path == "/write"
    assert dict(request.url.params) == {"db": "stack", "precision": "ns"}
    assert request.content == b"a value=1 1\nb value=2 2"


def test_a_refused_batch_is_split_until_the_refused_line_is_found() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if b"conflict" in request.content:
            return httpx.Response(400, json={"error": "partial write: field type conflict"})
        return httpx.Response(204)

    sink = sink_with(handler)
    lines = b"\n".join(f"m{i} value=1 1".encode() for i in range(7)) + b"\nconflict value=1 1"
    items = sink.decode(lines, None).items
    outcomes = sink.write(items)
    assert outcomes[:7] == [None] * 7
    assert isinstance(outcomes[7], Rejected)
    assert "field type conflict" in outcomes[7].reason
    assert outcomes[7].payload == b"conflict value=1 1"


@pytest.mark.parametrize("status", [500, 503])
def test_a_server_error_means_unavailable(status: int) -> None:
    sink = sink_with(lambda r: httpx.Response(status, text="down"))
    with pytest.raises(SinkUnavailable):
        sink.write(sink.decode(b"a value=1 1", None).items)


def test_a_missing_database_is_created_again() -> None:
    queries: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/query":
            queries.append(request.content.decode())
            return httpx.Response(200, json={"results": [{"statement_id": 0}]})
        return httpx.Response(404, json={"error": 'database not found: "stack"'})

    sink = sink_with(handler)
    with pytest.raises(SinkUnavailable):
        sink.write(sink.decode(b"a value=1 1", None).items)
    assert queries and "CREATE+DATABASE" in queries[0]


def test_a_large_batch_goes_in_chunks() -> None:
    sizes: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sizes.append(len(request.content.splitlines()))
        return httpx.Response(204)

    sink = InfluxSink(
        "http://influx:8086", database="d", chunk=4, transport=httpx.MockTransport(handler)
    )
    items = sink.decode(b"\n".join(b"m value=1 %d" % i for i in range(10)), None).items
    assert sink.write(items) == [None] * 10
    assert sizes == [4, 4, 2]
