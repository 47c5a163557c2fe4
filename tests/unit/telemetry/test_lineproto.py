"""Prometheus samples as line protocol: escaping, tags, histograms, what is left out."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from leapfrog.telemetry import to_line_protocol
from leapfrog.telemetry._lineproto import line
from tests.unit.telemetry.lineparse import parse

TAGS = {"service": "hello", "instance": "hello-1", "host": "box"}
text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"), min_size=1)


@given(
    measurement=text, key=text, value=text, number=st.floats(allow_nan=False, allow_infinity=False)
)
def test_any_names_survive_a_round_trip(
    measurement: str, key: str, value: str, number: float
) -> None:
    written = line(measurement, {key: value}, {"value": number}, 17)
    assert "\n" not in written
    assert parse(written) == (measurement, {key: value}, {"value": number}, 17)


def test_special_characters_are_escaped() -> None:
    written = line("cpu load,x", {"a b": "c,d=e\\"}, {"value": 1.0}, 5)
    assert written == "cpu\\ load\\,x,a\\ b=c\\,d\\=e\\\\ value=1.0 5"


def test_line_breaks_in_tags_become_spaces_and_empty_tags_are_left_out() -> None:
    assert line("m", {"t": "a\nb", "empty": ""}, {"value": 2.0}, 1) == "m,t=a\\ b value=2.0 1"


def test_a_registry_becomes_one_line_per_sample() -> None:
    registry = CollectorRegistry()
    requests = Counter("http_requests", "Requests", ["path", "service"], registry=registry)
    requests.labels("/a b", "backend").inc(3)
    Gauge("queue_depth", "Depth", registry=registry).set(7)
    hist = Histogram("latency_seconds", "Latency", buckets=(0.1, 1.0), registry=registry)
    hist.observe(0.5)
    lines = to_line_protocol(registry, TAGS, 1_700_000_000_000_000_000, measurement_prefix="app_")
    parsed = {(m, tuple(sorted(t.items()))): f["value"] for m, t, f, _ in map(parse, lines)}
    base = tuple(sorted(TAGS.items()))
    assert parsed[("app_queue_depth", base)] == 7.0
    counter_tags = tuple(sorted({**TAGS, "path": "/a b", "exported_service": "backend"}.items()))
    assert parsed[("app_http_requests_total", counter_tags)] == 3.0
    assert (
        parsed[("app_latency_seconds_bucket", tuple(sorted({**TAGS, "le": "1.0"}.items())))] == 1.0
    )
    assert (
        parsed[("app_latency_seconds_bucket", tuple(sorted({**TAGS, "le": "0.1"}.items())))] == 0.0
    )
    assert parsed[("app_latency_seconds_count", base)] == 1.0
    assert parsed[("app_latency_seconds_sum", base)] == 0.5
    assert not [m for m, _ in parsed if m.endswith("_created")]
    assert all(line.endswith(" 1700000000000000000") for line in lines)


def test_values_that_are_not_finite_are_left_out() -> None:
    registry = CollectorRegistry()
    Gauge("broken", "NaN", registry=registry).set(float("nan"))
    Gauge("fine", "ok", registry=registry).set(1)
    assert [parse(x)[0] for x in to_line_protocol(registry, TAGS, 1)] == ["fine"]
