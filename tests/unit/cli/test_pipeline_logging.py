"""The pipeline process's logging: nothing per store request (its log is shipped to `logs`)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest

from leapfrog.cli.pipeline import configure_logging


class _Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def kept() -> Iterator[_Kept]:
    root, client_log = logging.getLogger(), logging.getLogger("httpx")
    saved = (root.level, client_log.level)
    handler = _Kept()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)
    root.setLevel(saved[0])
    client_log.setLevel(saved[1])


def test_a_request_to_the_store_writes_no_log_line(kept: _Kept) -> None:
    """Seen end to end: every `_bulk` logged "HTTP Request: POST .../_bulk", which the
    collector shipped to `logs`, which the pipeline wrote with another `_bulk`: the logs
    pipeline never went idle (~5 writes/s of its own lines)."""
    configure_logging()
    logging.getLogger().setLevel(logging.INFO)  # what basicConfig does outside pytest
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={}))
    with httpx.Client(transport=transport) as client:
        client.post("http://store:9200/_bulk", content=b"{}\n")
    logging.getLogger("leapfrog.pipelines").info("pipeline started")
    assert kept.messages == ["pipeline started"]
