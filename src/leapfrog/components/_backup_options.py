"""The `backups:` block every store component takes (`components: <store>: backups:`).

One model, so each store says where its backups go, when they are taken and how many are
kept the same way; a store adds only what is its own (PostgreSQL: WAL archiving, mode).

Credentials and keys are never written here: `s3:` and `encryption:` name secrets kept
by leapfrog (`leapfrog secrets --set NAME`), mode 0600 in the stack's state directory.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from pydantic import Field, field_validator

from leapfrog.components.base import ComponentOptions

__all__ = ["S3_URL", "BackupOptions", "S3Options", "cron_problem", "parse_s3_url"]

S3_URL = re.compile(r"s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(?P<prefix>.*))?")
_SECRET_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


def parse_s3_url(url: str) -> tuple[str, str] | None:
    """(bucket, prefix without slashes at either end) of an `s3://` URL, else None."""
    match = S3_URL.fullmatch(url)
    if match is None:
        return None
    return match["bucket"], (match["prefix"] or "").strip("/")


class S3Options(ComponentOptions):
    endpoint: str | None = Field(
        default=None,
        description="The S3 API's URL (`http://127.0.0.1:9000`); default: AWS's own.",
    )
    region: str = Field(default="us-east-1", description="The bucket's region.")
    access_key_secret: str | None = Field(
        default=None,
        pattern=_SECRET_NAME,
        description="Name of the leapfrog secret holding the access key id "
        "(`leapfrog secrets --set NAME`). Default: the AWS environment and config files.",
    )
    secret_key_secret: str | None = Field(
        default=None,
        pattern=_SECRET_NAME,
        description="Name of the leapfrog secret holding the secret access key.",
    )


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
        description="Where backups go: a directory, or `s3://BUCKET/PREFIX` (see `s3:`). "
        "Default: `backups/` in the stack's state directory.",
    )
    s3: S3Options | None = Field(
        default=None, description="Endpoint, region and credentials of an `s3://` storage."
    )
    encryption: str | None = Field(
        default=None,
        pattern=_SECRET_NAME,
        description="Encrypt every object (AES-256-GCM, after compression) with the key in "
        "this leapfrog secret; a new random key is generated into it when it does not exist.",
    )
    keep_last: int = Field(
        default=7, ge=1, description="`leapfrog backup prune` keeps this many newest backups."
    )

    @field_validator("storage")
    @classmethod
    def _storage(cls, value: str | None) -> str | None:
        if value is not None and value.startswith("s3:") and parse_s3_url(value) is None:
            raise ValueError(
                f"{value!r} is no S3 location: write s3://BUCKET or s3://BUCKET/PREFIX "
                "(bucket: 3-63 lowercase letters, digits, dots, dashes)"
            )
        return value

    @property
    def is_s3(self) -> bool:
        return self.storage is not None and self.storage.startswith("s3://")

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
