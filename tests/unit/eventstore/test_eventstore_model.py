"""Event store messages and errors, and how Message DB's rows and errors map onto them."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from leapfrog.eventstore import (
    NO_STREAM,
    EventStoreError,
    Message,
    MessageDbStore,
    WrongExpectedVersion,
    message_db_url,
)
from leapfrog.eventstore._messagedb_sql import store_error, to_message
from leapfrog.shared.errors import LeapfrogError


def test_a_wrong_expected_version_says_what_was_expected_and_found() -> None:
    error = WrongExpectedVersion("account-1", 2, 5)
    assert (error.stream, error.expected, error.actual) == ("account-1", 2, 5)
    assert str(error).startswith("stream 'account-1' is at version 5, but the write expected")
    assert "to be at version 2" in str(error)
    assert isinstance(error, EventStoreError)


def test_a_wrong_expected_version_for_new_and_missing_streams() -> None:
    assert "not to exist" in str(WrongExpectedVersion("a-1", NO_STREAM, 0))
    assert "has no messages yet" in str(WrongExpectedVersion("a-1", 3, None))


@pytest.mark.parametrize(
    ("text", "expected", "actual"),
    [
        ("Wrong expected version: 0 (Stream: cart-1, Stream Version: 1)", 0, 1),
        ("Wrong expected version: -1 (Stream: cart-1, Stream Version: 4)", -1, 4),
        ("Wrong expected version: 3 (Stream: cart-2, Stream Version: -1)", 3, None),
    ],
)
def test_message_db_wrong_version_errors_become_wrong_expected_version(
    text: str, expected: int, actual: int | None
) -> None:
    error = store_error(Exception(text + "\nCONTEXT: PL/pgSQL function"), "cart-1")
    assert isinstance(error, WrongExpectedVersion)
    assert (error.expected, error.actual) == (expected, actual)


def test_other_message_db_errors_keep_their_words() -> None:
    error = store_error(Exception("Must be a stream name: account"), "account")
    assert type(error) is EventStoreError
    assert str(error) == "account: Must be a stream name: account"


def test_a_row_becomes_a_message_with_parsed_json_and_utc_time() -> None:
    written = datetime(2024, 5, 1, 12, 30)
    row = ("5b8f...", "account-1", "Opened", 0, 17, '{"owner": "ada"}', None, written)
    message = to_message(row)
    assert message == Message(
        id="5b8f...",
        stream="account-1",
        type="Opened",
        position=0,
        global_position=17,
        data={"owner": "ada"},
        metadata=None,
        time=written.replace(tzinfo=UTC),
    )
    assert to_message((*row[:6], '{"by": "x"}', written)).metadata == {"by": "x"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.position = 1  # type: ignore[misc]


def test_the_url_comes_from_the_argument_or_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MESSAGE_DB_URL", "postgresql://from-env")
    assert message_db_url() == "postgresql://from-env"
    assert message_db_url("postgresql://given") == "postgresql://given"


def test_without_a_url_the_error_says_how_to_get_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MESSAGE_DB_URL", raising=False)
    with pytest.raises(LeapfrogError, match="MESSAGE_DB_URL is not set") as raised:
        MessageDbStore()
    assert raised.value.hint is not None and "message_db: true" in raised.value.hint


def test_an_unreachable_store_raises_an_eventstore_error() -> None:
    store = MessageDbStore("postgresql://nobody:x@127.0.0.1:1/message_store?connect_timeout=2")
    with pytest.raises(EventStoreError, match="cannot connect to Message DB"):
        store.stream_version("account-1")
    store.close()
