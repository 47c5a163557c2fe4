"""Which backups a prune keeps: the rules, apart from any storage so they are testable.

- keep the newest `keep_last` backups;
- keep the newest backup of each of the last `keep_daily` days, `keep_weekly` ISO
  weeks and `keep_monthly` months that have one (grandfather-father-son; calendar in
  UTC, the backup's end time). A backup whose verification failed is no keeper for a
  day, week or month: the newest one of that period that did not fail is taken, and a
  period with only failed ones does not count;
- never delete the newest backup whose verification did not fail (the only good one
  stays even when newer ones failed verification or no rule would keep it);
- a prune never deletes every backup.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, Protocol, TypeVar

__all__ = ["Dated", "Plan", "Policy", "plan_prune"]


class Dated(Protocol):
    """What the rules look at: a backup's id and end time (a Manifest; on Kubernetes, a
    Backup object's run, so its objects are kept by the same rules as its files)."""

    @property
    def id(self) -> str: ...

    @property
    def ended(self) -> datetime: ...


D = TypeVar("D", bound=Dated)


@dataclass(frozen=True)
class Policy:
    keep_last: int = 7
    keep_daily: int = 0
    keep_weekly: int = 0
    keep_monthly: int = 0

    def __post_init__(self) -> None:
        if self.keep_last < 1:
            raise ValueError("keep_last must be at least 1")
        if min(self.keep_daily, self.keep_weekly, self.keep_monthly) < 0:
            raise ValueError("keep_daily, keep_weekly and keep_monthly cannot be negative")

    def describe(self) -> str:
        parts = [f"last {self.keep_last}"]
        for count, what in (
            (self.keep_daily, "daily"),
            (self.keep_weekly, "weekly"),
            (self.keep_monthly, "monthly"),
        ):
            if count:
                parts.append(f"{what} {count}")
        return ", ".join(parts)


@dataclass(frozen=True)
class Plan(Generic[D]):
    keep: list[D]
    delete: list[D]
    why: dict[str, list[str]] = field(default_factory=dict)
    """By kept backup id: the rules that keep it (`last`, `daily 2026-12-05`, ...)."""


def _day(when: datetime) -> str:
    return f"{when:%Y-%m-%d}"


def _week(when: datetime) -> str:
    year, week, _ = when.isocalendar()
    return f"{year}-W{week:02d}"


def _month(when: datetime) -> str:
    return f"{when:%Y-%m}"


_PERIODS: tuple[tuple[str, Callable[[datetime], str]], ...] = (
    ("daily", _day),
    ("weekly", _week),
    ("monthly", _month),
)


def plan_prune(
    backups: Sequence[D], policy: Policy, verified: Mapping[str, bool | None]
) -> Plan[D]:
    """`verified`: by backup id, True (passed), False (failed) or None (not verified)."""
    newest_first = sorted(backups, key=lambda m: m.ended, reverse=True)
    why: dict[str, list[str]] = {}

    def keep(manifest: D, reason: str) -> None:
        why.setdefault(manifest.id, []).append(reason)

    for manifest in newest_first[: policy.keep_last]:
        keep(manifest, "last")
    good = [m for m in newest_first if verified.get(m.id) is not False]
    counts = {
        "daily": policy.keep_daily,
        "weekly": policy.keep_weekly,
        "monthly": policy.keep_monthly,
    }
    for name, period_of in _PERIODS:
        seen: set[str] = set()
        for manifest in good:
            if len(seen) >= counts[name]:
                break
            period = period_of(manifest.ended)
            if period not in seen:
                seen.add(period)
                keep(manifest, f"{name} {period}")
    if good and good[0].id not in why:
        keep(good[0], "newest good")
    if newest_first and not why:  # cannot happen with keep_last >= 1; the rule stands alone
        keep(newest_first[0], "never all")
    kept = [m for m in newest_first if m.id in why]
    deleted = [m for m in newest_first if m.id not in why]
    return Plan(keep=kept, delete=deleted, why=why)
