"""Go durations and body key folding."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leapfrog.catalog._body import BadRequest, Fields, parse_json_object
from leapfrog.catalog._checkdef import parse_catalog_definition
from leapfrog.catalog._godur import format_go_duration, parse_go_duration
from leapfrog.catalog._model import Check
from leapfrog.catalog.checks.api import CheckDefinition


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("120000ms", 120.0),
        ("10s", 10.0),
        ("5m", 300.0),
        ("1m30s", 90.0),
        ("1.5h", 5400.0),
        ("250us", 0.00025),
        ("0", 0.0),
        ("-2s", -2.0),
    ],
)
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "10", "s", "1x", "1m 30s", "abc", "9999999999h", True])
def test_bad_go_durations(text: object) -> None:
    with pytest.raises(ValueError):
        parse_go_duration(text)


def test_json_numbers_are_nanoseconds() -> None:
    assert parse_go_duration(1_500_000_000) == 1.5


def test_keys_fold_case_and_underscores_but_user_maps_keep_theirs() -> None:
    fields = Fields(
        {"serviceid": "a", "Enable_Tag_Override": True, "META": {"Some_Key": "v"}}, "body"
    )
    assert fields.text("ServiceID") == "a"
    assert fields.boolean("EnableTagOverride") is True
    assert fields.str_map("Meta") == {"Some_Key": "v"}


def test_wrong_types_are_clear_400s() -> None:
    fields = Fields({"Port": "80", "Tags": "a"}, "body")
    with pytest.raises(BadRequest, match="Port must be a number"):
        fields.integer("Port")
    with pytest.raises(BadRequest, match="Tags must be a list of strings"):
        fields.str_list("Tags")


@pytest.mark.parametrize("body", [b"", b"{", b"[1]", b'"x"', b"[" * 100_000])
def test_malformed_json_is_a_decode_error(body: bytes) -> None:
    with pytest.raises(BadRequest, match="Request decode failed"):
        parse_json_object(body)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (1e-9, "1ns"),
        (1.5e-6, "1.5µs"),
        (0.25, "250ms"),
        (1.5, "1.5s"),
        (60, "1m0s"),
        (90, "1m30s"),
        (3600, "1h0m0s"),
        (5400.5, "1h30m0.5s"),
        (-2, "-2s"),
    ],
)
def test_durations_print_as_go_prints_them(seconds: float, text: str) -> None:
    assert format_go_duration(seconds) == text


@given(st.integers(min_value=-(10**17), max_value=10**17))
def test_printed_durations_parse_back(nanos: int) -> None:
    """What HashiCorp's Go client does with every duration the catalog sends."""
    assert parse_go_duration(format_go_duration(nanos / 1e9)) == pytest.approx(nanos / 1e9)


def test_catalog_check_definition_renders_as_consul_does() -> None:
    fields = Fields(
        {
            "http": "http://x/health",
            "Interval": "90s",
            "Timeout": 5_000_000_000,
            "DeregisterCriticalServiceAfter": "",
            "TTL": "1m",
            "TLSSkipVerify": False,
            "Header": {"A": ["b"]},
        },
        "Definition",
    )
    assert parse_catalog_definition(fields) == {
        "Interval": "1m30s",
        "Timeout": "5s",
        "HTTP": "http://x/health",
        "Header": {"A": ["b"]},
        "TTL": 60_000_000_000,
    }
    assert parse_catalog_definition(Fields({}, "Definition")) is None
    with pytest.raises(BadRequest):
        parse_catalog_definition(Fields({"Interval": "x"}, "D"))


def test_checks_journaled_before_their_consul_fields_read_as_service_checks() -> None:
    definition = CheckDefinition("c", "http", http="http://x", interval=10.0)
    old = Check("c", "c", "passing", "web-1", definition=definition).to_dict()
    for key in ("check_type", "interval", "timeout", "shown_definition"):
        del old[key]
    check = Check.from_dict(old)
    assert (check.check_type, check.interval, check.timeout) == ("http", "10s", "")
    maintenance = Check("_node_maintenance", "m", "critical").to_dict()
    del maintenance["check_type"]
    assert Check.from_dict(maintenance).check_type == "maintenance"
