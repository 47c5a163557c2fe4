"""Event store helper for services: write messages with an expected version, read a
stream, read a category from a position.

The interface (`EventStore`) is backend-neutral; locally the backend is Message DB in
the stack's PostgreSQL (`MessageDbStore`, from $MESSAGE_DB_URL;
`AsyncMessageDbStore` for asyncio code). See docs/eventstore.md.
"""

from leapfrog.eventstore._messagedb import MessageDbStore
from leapfrog.eventstore._messagedb_async import AsyncMessageDbStore
from leapfrog.eventstore._messagedb_sql import message_db_url
from leapfrog.eventstore._model import (
    NO_STREAM,
    EventStore,
    EventStoreError,
    Message,
    WrongExpectedVersion,
)

__all__ = [
    "NO_STREAM",
    "AsyncMessageDbStore",
    "EventStore",
    "EventStoreError",
    "Message",
    "MessageDbStore",
    "WrongExpectedVersion",
    "message_db_url",
]
