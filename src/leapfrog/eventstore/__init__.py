"""Event store helper for services: write messages with an expected version, read a
stream, read a category from a position.

The interface (`EventStore`) is backend-neutral; locally the backend is Message DB in
the stack's PostgreSQL (`MessageDbStore`, from $MESSAGE_DB_URL). See docs/eventstore.md.
"""

from leapfrog.eventstore._messagedb import MessageDbStore, message_db_url
from leapfrog.eventstore._model import (
    NO_STREAM,
    EventStore,
    EventStoreError,
    Message,
    WrongExpectedVersion,
)

__all__ = [
    "NO_STREAM",
    "EventStore",
    "EventStoreError",
    "Message",
    "MessageDbStore",
    "WrongExpectedVersion",
    "message_db_url",
]
