"""Fixtures more than one tier uses. A server on a fixed address must be started once a
session: a fixture defined (or imported) in two tiers' modules is two fixtures to pytest,
and a run of both tiers would start it twice."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.s3_server import S3Server, running_s3_server


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """One versitygw for the session on 127.0.0.71, with the bucket made (used by
    tests/integration/backup and tests/kubernetes)."""
    yield from running_s3_server()
