"""The InfluxDB sink against httpx.MockTransport: timestamps kept or given, InfluxDB's
refusals mapped back to the lines it names, a refusal naming none split in halves."""

from __future__ import annotations

import httpx
import pytest

from leapfrog.pipelines import InfluxSink, Rejected, SinkUnavailable, check_line


def sink_with(handler: object, **kwargs: object) -> InfluxSink:
    return InfluxSink(
        "http://influx:8086",
        database="stack",
        transport=httpx.MockTransport(handler),  # type: ignore[arg-type]
        **kwargs,  # type: ignore[arg-type]
    )


def never(request: httpx.Request) -> httpx.Response:
    raise AssertionError("no request expected")


def test_decode_keeps_timestamps_and_gives_the_record_time_to_lines_without() -> None:
    value = b'a value=1 123\nb value=2\nc s="x 5"\n\n# a comment\r\nd value=1 -5\n'
    decoded = sink_with(never).decode(value, 1_700_000_000_000)
    assert [text for text, _ in decoded.items] == [
        "a value=1 123",
        "b value=2 1700000000000000000",
        'c s="x 5" 1700000000000000000',
        "d value=1 -5",
    ]
    assert decoded.items[1][1] == "b value=2"  # dead-lettered as it came
    assert not decoded.rejected


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


def test_lines_influxdb_names_as_unparsable_are_rejected_the_others_written() -> None:
    seen: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.content)
        error = (
            "partial write: unable to parse 'bad 1000000': invalid field format\n"
            "unable to parse 'worse,t= v=1 2': missing tag value dropped=0"
        )
        return httpx.Response(400, json={"error": error})

    sink = sink_with(handler)
    items = sink.decode(b"ok value=1 1\nbad\nworse,t= v=1 2\nok value=2 2", 1)
    outcomes = sink.write(items.items)
    assert len(seen) == 1  # no splitting: InfluxDB said which
    assert outcomes[0] is None and outcomes[3] is None
    assert isinstance(outcomes[1], Rejected) and isinstance(outcomes[2], Rejected)
    assert outcomes[1].payload == b"bad"  # as it came, without the added timestamp
    assert outcomes[1].reason == "InfluxDB could not parse the line: invalid field format"
    assert outcomes[2].reason == "InfluxDB could not parse the line: missing tag value"


def test_a_refusal_naming_no_line_is_split_until_the_line_is_found() -> None:
    requests = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal requests
        requests += 1
        if b"conflict" in request.content:
            return httpx.Response(400, json={"error": "partial write: field type conflict"})
        return httpx.Response(204)

    sink = sink_with(handler)
    lines = b"\n".join(f"m{i} value=1 1".encode() for i in range(7)) + b"\nconflict value=1 1"
    outcomes = sink.write(sink.decode(lines, None).items)
    assert outcomes[:7] == [None] * 7
    assert isinstance(outcomes[7], Rejected)
    assert "field type conflict" in outcomes[7].reason
    assert outcomes[7].payload == b"conflict value=1 1"
    assert requests == 7  # 8 lines: 1 + 2 + 2 + 2 requests


def test_a_named_line_that_is_not_ours_is_not_trusted() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if len(request.content.splitlines()) > 1:
            return httpx.Response(400, json={"error": "unable to parse 'zzz': odd"})
        return httpx.Response(204)

    sink = sink_with(handler)
    outcomes = sink.write(sink.decode(b"a v=1 1\nb v=1 1", None).items)
    assert outcomes == [None, None]  # found by splitting: both were fine alone


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

    sink = sink_with(handler, chunk=4)
    items = sink.decode(b"\n".join(b"m value=1 %d" % i for i in range(10)), None).items
    assert sink.write(items) == [None] * 10
    assert sizes == [4, 4, 2]


def test_lines_swallowed_by_an_unclosed_string_are_written_again() -> None:
    bodies: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        if b'"open' not in request.content:
            return httpx.Response(204)
        # InfluxDB 1.8's answer: the unclosed string runs into the next line.
        error = (
            "partial write: unable to parse 'a s=\"open 1\nb v=1 2': unbalanced quotes dropped=0"
        )
        return httpx.Response(400, json={"error": error})

    sink = sink_with(handler)
    # Made by hand: decode refuses such a line itself; this is the store's own guard.
    items = [(line, line) for line in ('a s="open 1', "b v=1 2", "c v=1 3")]
    outcomes = sink.write(items)
    assert isinstance(outcomes[0], Rejected) and "unbalanced quotes" in outcomes[0].reason
    assert outcomes[1:] == [None, None]
    assert bodies[1:] == [b"b v=1 2"]  # swallowed, so written again alone


def test_a_line_with_an_unclosed_string_is_refused_before_it_swallows_the_next() -> None:
    value = b'a s="open 1\nb v=1 2\nc s="closed \\" quote" 3\nd,t=x\\ y v=1 4'
    decoded = sink_with(never).decode(value, None)
    assert [text for text, _ in decoded.items] == [
        "b v=1 2",
        'c s="closed \\" quote" 3',
        "d,t=x\\ y v=1 4",
    ]
    [rejected] = decoded.rejected
    assert rejected.payload == b'a s="open 1' and "not closed" in rejected.reason


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
