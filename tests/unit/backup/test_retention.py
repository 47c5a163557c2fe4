from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from leapfrog.backup.manifest import Manifest, ObjectEntry
from leapfrog.backup.retention import plan_prune

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def backup(n: int) -> Manifest:
    obj = ObjectEntry(name="a", size=1, raw_size=1, sha256="0" * 64, compression="none")
    when = T0 + timedelta(days=n)
    return Manifest(
        id=f"{when:%Y%m%dT%H%M%SZ}-000{n % 10}",
        store="pg",
        kind="postgres",
        mode="physical",
        store_version="15",
        started=when,
        ended=when,
        position={},
        objects=[obj],
        facts={},
    )


def ids(items: list[Manifest]) -> list[str]:
    return [m.id for m in items]


def test_keeps_the_newest_n() -> None:
    backups = [backup(n) for n in range(5)]
    plan = plan_prune(backups, 2, {})
    assert ids(plan.keep) == ids([backups[4], backups[3]])
    assert ids(plan.delete) == ids([backups[2], backups[1], backups[0]])


def test_never_deletes_the_only_good_backup() -> None:
    backups = [backup(n) for n in range(4)]
    verified = {backups[3].id: False, backups[2].id: False, backups[1].id: True}
    plan = plan_prune(backups, 1, verified)
    assert ids(plan.keep) == ids([backups[3], backups[1]])  # newest, and the newest good one
    assert ids(plan.delete) == ids([backups[2], backups[0]])


def test_unverified_counts_as_good_failed_does_not() -> None:
    backups = [backup(n) for n in range(3)]
    plan = plan_prune(backups, 1, {backups[2].id: False})
    assert ids(plan.keep) == ids([backups[2], backups[1]])


def test_a_single_backup_is_kept_whatever_its_state() -> None:
    only = [backup(0)]
    assert plan_prune(only, 1, {only[0].id: False}).delete == []


def test_keep_last_zero_is_refused() -> None:
    with pytest.raises(ValueError):
        plan_prune([backup(0)], 0, {})
