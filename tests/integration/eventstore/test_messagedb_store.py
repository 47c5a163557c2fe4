"""leapfrog.eventstore on Message DB installed by the postgres component into a real
PostgreSQL: writes, stream and category reads, optimistic concurrency, restarts."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from leapfrog.eventstore import (
    NO_STREAM,
    AsyncMessageDbStore,
    EventStore,
    EventStoreError,
    MessageDbStore,
    WrongExpectedVersion,
)
from leapfrog.testing import RunningComponent, run_component, scratch_dir


@pytest.fixture(scope="module")
def message_db() -> Iterator[RunningComponent]:
    with (
        scratch_dir("lf-messagedb-") as base,
        run_component("postgres", {"message_db": True}, base, address="127.0.0.53") as running,
    ):
        yield running


@pytest.fixture
def store(message_db: RunningComponent) -> Iterator[MessageDbStore]:
    with MessageDbStore(message_db.env()["MESSAGE_DB_URL"]) as opened:
        yield opened


def unique(category: str) -> str:
    """A category no other test writes to: tests share one store."""
    return f"{category}{uuid.uuid4().hex[:8]}"


@pytest.mark.timeout(120)
def test_write_then_read_a_stream(store: MessageDbStore) -> None:
    backend: EventStore = store  # the backend-neutral interface is what services use
    stream = f"{unique('account')}-1"
    assert backend.write(stream, "Opened", {"owner": "ada"}) == 0
    assert backend.write(stream, "Deposited", {"amount": 10}, metadata={"by": "teller"}) == 1
    messages = backend.read_stream(stream)
    assert [(m.type, m.position, m.stream) for m in messages] == [
        ("Opened", 0, stream),
        ("Deposited", 1, stream),
    ]
    assert messages[0].data == {"owner": "ada"} and messages[0].metadata is None
    assert messages[1].metadata == {"by": "teller"}
    assert messages[0].global_position < messages[1].global_position
    assert abs(messages[0].time - datetime.now(UTC)) < timedelta(minutes=5)
    assert [m.type for m in backend.read_stream(stream, position=1)] == ["Deposited"]
    assert len(backend.read_stream(stream, batch_size=1)) == 1
    last = backend.last_message(stream)
    assert last is not None and last.id == messages[1].id
    assert backend.stream_version(stream) == 1


@pytest.mark.timeout(120)
def test_a_stream_without_messages(store: MessageDbStore) -> None:
    stream = f"{unique('nothing')}-1"
    assert store.read_stream(stream) == []
    assert store.last_message(stream) is None
    assert store.stream_version(stream) is None


@pytest.mark.timeout(120)
def test_read_a_category_from_a_position(store: MessageDbStore) -> None:
    category = unique("order")
    for number in range(3):
        store.write(f"{category}-{number}", "Placed", {"number": number})
    store.write(f"{unique('other')}-1", "Placed", {"number": 99})
    messages = store.read_category(category)
    assert [m.data["number"] for m in messages] == [0, 1, 2]
    later = store.read_category(category, position=messages[1].global_position)
    assert [m.stream for m in later] == [f"{category}-1", f"{category}-2"]
    assert len(store.read_category(category, batch_size=2)) == 2


@pytest.mark.timeout(120)
def test_a_stale_expected_version_raises(store: MessageDbStore) -> None:
    stream = f"{unique('cart')}-1"
    assert store.write(stream, "Created", {}, expected_version=NO_STREAM) == 0
    assert store.write(stream, "ItemAdded", {"sku": "a"}, expected_version=0) == 1
    with pytest.raises(WrongExpectedVersion) as stale:
        store.write(stream, "ItemAdded", {"sku": "b"}, expected_version=0)
    assert (stale.value.stream, stale.value.expected, stale.value.actual) == (stream, 0, 1)
    assert "is at version 1" in str(stale.value)
    with pytest.raises(WrongExpectedVersion) as exists:
        store.write(stream, "Created", {}, expected_version=NO_STREAM)
    assert "not to exist" in str(exists.value)
    with pytest.raises(WrongExpectedVersion) as missing:
        store.write(f"{unique('cart')}-2", "ItemAdded", {}, expected_version=3)
    assert missing.value.actual is None
    assert [m.type for m in store.read_stream(stream)] == ["Created", "ItemAdded"]


@pytest.mark.timeout(120)
def test_a_category_is_not_a_stream(store: MessageDbStore) -> None:
    with pytest.raises(EventStoreError, match="Must be a stream name"):
        store.read_stream("account")


@pytest.mark.timeout(120)
def test_the_async_store_does_the_same(message_db: RunningComponent) -> None:
    category = unique("async")
    stream = f"{category}-1"

    async def scenario() -> None:
        async with AsyncMessageDbStore(message_db.env()["MESSAGE_DB_URL"]) as store:
            assert await store.write(stream, "Started", {"n": 1}, expected_version=NO_STREAM) == 0
            with pytest.raises(WrongExpectedVersion):
                await store.write(stream, "Started", {"n": 2}, expected_version=NO_STREAM)
            assert [m.data for m in await store.read_stream(stream)] == [{"n": 1}]
            assert [m.stream for m in await store.read_category(category)] == [stream]
            last = await store.last_message(stream)
            assert last is not None and last.type == "Started"
            assert await store.stream_version(stream) == 0

    asyncio.run(scenario())


@pytest.mark.timeout(180)
def test_messages_survive_a_restart(message_db: RunningComponent) -> None:
    url = message_db.env()["MESSAGE_DB_URL"]
    stream = f"{unique('kept')}-1"
    with MessageDbStore(url) as store:
        store.write(stream, "Written", {"before": "stop"})
    assert message_db.stop() == 0
    message_db.start()
    with MessageDbStore(url) as store:
        messages = store.read_stream(stream)
    assert [(m.type, m.data) for m in messages] == [("Written", {"before": "stop"})]
