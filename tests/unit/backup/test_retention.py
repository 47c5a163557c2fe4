from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from leapfrog.backup.manifest import Manifest, ObjectEntry
from leapfrog.backup.retention import Policy, plan_prune

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def at(when: datetime, n: int = 0) -> Manifest:
    obj = ObjectEntry(name="a", size=1, raw_size=1, sha256="0" * 64, compression="none")
    return Manifest(
        id=f"{when:%Y%m%dT%H%M%SZ}-{n:04d}",
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


def backup(n: int) -> Manifest:
    return at(T0 + timedelta(days=n), n)


def ids(items: list[Manifest]) -> list[str]:
    return [m.id for m in items]


def last(n: int) -> Policy:
    return Policy(keep_last=n)


def test_keeps_the_newest_n() -> None:
    backups = [backup(n) for n in range(5)]
    plan = plan_prune(backups, last(2), {})
    assert ids(plan.keep) == ids([backups[4], backups[3]])
    assert ids(plan.delete) == ids([backups[2], backups[1], backups[0]])
    assert plan.why[backups[4].id] == ["last"]


def test_never_deletes_the_only_good_backup() -> None:
    backups = [backup(n) for n in range(4)]
    verified = {backups[3].id: False, backups[2].id: False, backups[1].id: True}
    plan = plan_prune(backups, last(1), verified)
    assert ids(plan.keep) == ids([backups[3], backups[1]])  # newest, and the newest good one
    assert ids(plan.delete) == ids([backups[2], backups[0]])
    assert plan.why[backups[1].id] == ["newest good"]


def test_unverified_counts_as_good_failed_does_not() -> None:
    backups = [backup(n) for n in range(3)]
    plan = plan_prune(backups, last(1), {backups[2].id: False})
    assert ids(plan.keep) == ids([backups[2], backups[1]])


def test_a_single_backup_is_kept_whatever_its_state() -> None:
    only = [backup(0)]
    assert plan_prune(only, last(1), {only[0].id: False}).delete == []
    assert plan_prune([], Policy(keep_last=1, keep_daily=3), {}).keep == []


def test_invalid_policies_are_refused() -> None:
    with pytest.raises(ValueError, match="keep_last"):
        Policy(keep_last=0)
    with pytest.raises(ValueError, match="negative"):
        Policy(keep_daily=-1)


def hourly(days: int, per_day: int = 24) -> list[Manifest]:
    """A backup every 24/per_day hours for `days` days from T0."""
    step = timedelta(hours=24 / per_day)
    return [at(T0 + step * i, i) for i in range(days * per_day)]


def test_daily_keeps_the_newest_of_each_of_the_last_n_days() -> None:
    backups = hourly(10)  # 240 backups, 2026-12-01 .. 2026-12-10
    plan = plan_prune(backups, Policy(keep_last=2, keep_daily=3), {})
    newest = backups[-1]
    # the newest of the 10th (also "last"), the one before it ("last"), and the newest
    # of the 9th and the 8th: the last 3 days that have a backup.
    expected = [newest, backups[-2], backups[-25], backups[-49]]
    assert ids(plan.keep) == ids(expected)
    assert plan.why[newest.id] == ["last", "daily 2026-12-10"]
    assert plan.why[backups[-25].id] == ["daily 2026-12-09"]
    assert f"{backups[-49].ended:%d %H:%M}" == "08 23:00"
    assert len(plan.delete) == 240 - 4
    assert not set(ids(plan.keep)) & set(ids(plan.delete))


def test_several_backups_on_the_same_day_count_once() -> None:
    day = datetime(2026, 12, 5, tzinfo=UTC)
    same_day = [at(day + timedelta(minutes=10 * i), i) for i in range(6)]
    plan = plan_prune(same_day, Policy(keep_last=1, keep_daily=7), {})
    assert ids(plan.keep) == [same_day[-1].id]  # one day: one keeper, which is also "last"
    assert len(plan.delete) == 5


def test_days_without_a_backup_do_not_count() -> None:
    days = [0, 1, 5, 9, 20]
    backups = [at(T0 + timedelta(days=d, hours=3), d) for d in days]
    plan = plan_prune(backups, Policy(keep_last=1, keep_daily=3), {})
    assert [f"{m.ended:%d}" for m in plan.keep] == ["21", "10", "06"]


def test_weekly_uses_iso_weeks_across_a_year_boundary() -> None:
    # 2026 has 53 ISO weeks: Mon 2026-12-28 .. Sun 2027-01-03 is 2026-W53, and
    # 2027-W01 starts on Mon 2027-01-04. One backup a day, 2026-12-20 .. 2027-01-08.
    backups = [at(datetime(2026, 12, 20, tzinfo=UTC) + timedelta(days=d), d) for d in range(20)]
    plan = plan_prune(backups, Policy(keep_last=1, keep_weekly=3), {})
    kept = {f"{m.ended:%Y-%m-%d}": plan.why[m.id] for m in plan.keep}
    assert kept == {
        "2027-01-08": ["last", "weekly 2027-W01"],
        "2027-01-03": ["weekly 2026-W53"],  # the newest of that week, in the new year
        "2026-12-27": ["weekly 2026-W52"],
    }


def test_monthly_across_a_month_boundary() -> None:
    # one just before and one just after midnight at the end of November, and more.
    backups = [
        at(datetime(2026, 10, 15, tzinfo=UTC), 1),
        at(datetime(2026, 11, 2, tzinfo=UTC), 2),
        at(datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC), 3),
        at(datetime(2026, 12, 1, 0, 0, 1, tzinfo=UTC), 4),
        at(datetime(2026, 12, 3, tzinfo=UTC), 5),
    ]
    plan = plan_prune(backups, Policy(keep_last=1, keep_monthly=2), {})
    assert ids(plan.keep) == ids([backups[4], backups[2]])
    assert plan.why[backups[2].id] == ["monthly 2026-11"]
    assert ids(plan.delete) == ids([backups[3], backups[1], backups[0]])


def test_a_failed_verification_is_no_keeper_for_its_period() -> None:
    day1 = datetime(2026, 12, 1, tzinfo=UTC)
    day2 = day1 + timedelta(days=1)
    backups = [
        at(day1 + timedelta(hours=1), 1),
        at(day1 + timedelta(hours=2), 2),  # failed: day 1's keeper is #1
        at(day2 + timedelta(hours=1), 3),  # failed, and the only one of day 2
        at(day2 + timedelta(hours=5), 4),  # failed
    ]
    verified: dict[str, bool | None] = {
        backups[1].id: False,
        backups[2].id: False,
        backups[3].id: False,
        backups[0].id: True,
    }
    plan = plan_prune(backups, Policy(keep_last=1, keep_daily=2), verified)
    # last: #4 (failed, kept as the newest); daily: day 2 has no good one and does not
    # count, so the 2 days are day 1 (#1) and nothing older.
    assert ids(plan.keep) == ids([backups[3], backups[0]])
    assert plan.why[backups[0].id] == ["daily 2026-12-01"]


def test_gfs_together_keeps_the_union() -> None:
    backups = hourly(120, per_day=2)  # 240 backups over 4 months
    plan = plan_prune(backups, Policy(keep_last=3, keep_daily=7, keep_weekly=4, keep_monthly=6), {})
    reasons = [r for m in plan.keep for r in plan.why[m.id]]
    assert sum(r == "last" for r in reasons) == 3
    assert sum(r.startswith("daily ") for r in reasons) == 7
    assert sum(r.startswith("weekly ") for r in reasons) == 4
    # 2026-12 .. 2027-03: four months have backups, fewer than 6: all four count
    assert sorted(r for r in reasons if r.startswith("monthly ")) == [
        "monthly 2026-12",
        "monthly 2027-01",
        "monthly 2027-02",
        "monthly 2027-03",
    ]
    assert len(plan.keep) + len(plan.delete) == 240
    assert ids(plan.keep) == sorted(ids(plan.keep), reverse=True)  # newest first
    # each monthly keeper is the newest backup of its month
    for m in plan.keep:
        for reason in plan.why[m.id]:
            if reason.startswith("monthly "):
                month = [b for b in backups if f"{b.ended:%Y-%m}" == reason[8:]]
                assert m.id == max(month, key=lambda b: b.ended).id


def test_everything_failed_still_keeps_something() -> None:
    backups = [backup(n) for n in range(5)]
    plan = plan_prune(
        backups, Policy(keep_last=1, keep_daily=5), dict.fromkeys(ids(backups), False)
    )
    assert ids(plan.keep) == [backups[4].id]
