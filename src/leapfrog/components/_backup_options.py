"""The `backups:` block every store component takes (`components: <store>: backups:`).

One model, so each store says where its backups go, when they are taken and how many are
kept the same way; a store adds only what is its own (PostgreSQL: WAL archiving, mode).
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import Field, field_validator

from leapfrog.components.base import ComponentOptions

__all__ = ["BackupOptions", "cron_problem"]


def cron_problem(expression: str) -> str | None:
    """Why `expression` is not a 5-field cron expression croniter can run, or None."""
    from croniter import croniter  # only where a schedule is declared

    fields = expression.split()
    if len(fields) != 5:
        return (
            f"{expression!r} is not a cron expression: it needs 5 fields "
            "(minute hour day-of-month month day-of-week), e.g. '*/10 * * * *' or '0 3 * * *'"
        )
    try:
        croniter(expression, datetime(2026, 1, 1, tzinfo=UTC)).get_next(datetime)
    except (ValueError, KeyError, TypeError) as exc:  # croniter's errors are ValueErrors
        return f"{expression!r} is not a cron expression croniter accepts: {exc}"
    return None


class BackupOptions(ComponentOptions):
    storage: str | None = Field(
        default=None,
        description="Backup storage directory. Default: `backups/` in the stack's state directory.",
    )
    keep_last: int = Field(
        default=7, ge=1, description="`leapfrog backup prune` keeps this many newest backups."
    )
    # -- schedule (run by the `backups` component) ------------------------------------
    schedule: str | None = Field(
        default=None,
        description=(
            "Cron expression (5 fields, UTC) of scheduled backups, run by the stack's "
            "`backups` component: e.g. '0 3 * * *' (daily at 03:00), '*/30 * * * *'. "
            "Default: none, backups only by hand."
        ),
    )
    verify: bool = Field(
        default=True,
        description="Verify every scheduled backup by restoring it into a scratch server.",
    )
    keep_daily: int = Field(
        default=0,
        ge=0,
        description="Also keep the newest backup of each of the last N days that have one.",
    )
    keep_weekly: int = Field(
        default=0,
        ge=0,
        description="Also keep the newest backup of each of the last N ISO weeks that have one.",
    )
    keep_monthly: int = Field(
        default=0,
        ge=0,
        description="Also keep the newest backup of each of the last N months that have one.",
    )

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None:
            problem = cron_problem(value)
            if problem is not None:
                raise ValueError(problem)
        return value
