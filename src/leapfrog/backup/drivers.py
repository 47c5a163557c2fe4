"""The drivers, by component kind, imported only when used."""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from leapfrog.backup.driver import BackupDriver
from leapfrog.shared.errors import LeapfrogError

__all__ = ["chooses_of", "driver_for", "known_drivers"]

_DRIVERS = {
    "postgres": ("leapfrog.backup.postgres", "PostgresDriver"),
    "zookeeper": ("leapfrog.backup.zookeeper", "ZooKeeperDriver"),
    "opensearch": ("leapfrog.backup.opensearch", "OpenSearchDriver"),
    "influxdb": ("leapfrog.backup.influxdb", "InfluxDBDriver"),
    "kafka": ("leapfrog.backup.kafka", "KafkaDriver"),
}


def known_drivers() -> list[str]:
    return sorted(_DRIVERS)


def driver_for(kind: str, only: Sequence[str] = ()) -> BackupDriver:
    """The driver of `kind`, limited to the names or patterns `only` (its `chooses`)."""
    if kind not in _DRIVERS:
        raise LeapfrogError(
            f"{kind} cannot be backed up yet",
            hint=f"stores with a backup driver: {', '.join(known_drivers())}",
        )
    module, name = _DRIVERS[kind]
    driver: BackupDriver = getattr(importlib.import_module(module), name)()
    if only:
        if not driver.chooses:
            raise LeapfrogError(
                f"a {kind} backup is always of the whole store: nothing can be chosen",
                hint="leave out --topic/--index/--database",
            )
        driver.only = tuple(only)
    return driver


def chooses_of(kind: str) -> str:
    """What a backup or restore of `kind` may be limited to (its driver's `chooses`:
    `topic`, `index`, `database`); empty: it is always of the whole store, or `kind`
    has no driver."""
    if kind not in _DRIVERS:
        return ""
    module, name = _DRIVERS[kind]
    found: str = getattr(importlib.import_module(module), name).chooses
    return found
