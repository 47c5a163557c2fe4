"""The drivers' registry: what each store's backups may choose, read from its driver
(the operator and `--target kubernetes` ask it, and keep no table of their own)."""

from __future__ import annotations

import pytest

from leapfrog.backup.drivers import chooses_of, driver_for, known_drivers
from leapfrog.shared.errors import LeapfrogError


def test_what_each_store_chooses_is_its_drivers_word() -> None:
    found = {kind: chooses_of(kind) for kind in known_drivers()}
    assert found == {kind: driver_for(kind).chooses for kind in known_drivers()}
    assert found == {"influxdb": "database", "kafka": "topic", "opensearch": "index",
                     "postgres": "database", "zookeeper": ""}  # fmt: skip
    assert chooses_of("lb") == ""


def test_a_store_that_is_always_whole_refuses_a_choice() -> None:
    with pytest.raises(LeapfrogError, match="always of the whole store"):
        driver_for("zookeeper", ("x",))
