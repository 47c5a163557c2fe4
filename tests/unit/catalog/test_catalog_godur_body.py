"""Go durations and body key folding."""

from __future__ import annotations

import pytest

from leapfrog.catalog._body import BadRequest, Fields, parse_json_object
from leapfrog.catalog._godur import parse_go_duration


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
