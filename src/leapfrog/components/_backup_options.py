"""The `backups:` block every store component takes (`components: <store>: backups:`).

One model, so each store says where its backups go and how many are kept the same way;
a store adds only what is its own (PostgreSQL: WAL archiving).

Credentials and keys are never written here: `s3:` and `encryption:` name secrets kept
by leapfrog (`leapfrog secrets --set NAME`), mode 0600 in the stack's state directory.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from leapfrog.components.base import ComponentOptions

__all__ = ["S3_URL", "BackupOptions", "S3Options", "parse_s3_url"]

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
        default=7, ge=1, description="`leapfrog backup prune` keeps this many backups."
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
