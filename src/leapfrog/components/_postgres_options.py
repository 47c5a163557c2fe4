"""The `postgres` component's options, as written under `components: postgres:`."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from leapfrog.components._backup_options import BackupOptions
from leapfrog.components.base import ComponentOptions

__all__ = [
    "MESSAGE_STORE",
    "SUPERUSER",
    "DatabaseOptions",
    "PostgresBackupOptions",
    "PostgresOptions",
    "RoleOptions",
]

SUPERUSER = "postgres"
MESSAGE_STORE = "message_store"
"""Message DB's database and role: both are named so by Message DB itself."""

# Plain lower-case identifiers: valid unquoted in SQL, in URLs and in file names.
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_PARAMETER = re.compile(r"[a-z_][a-z0-9_.]*")
# Settings leapfrog decides itself: where the instance listens and where its files are.
_RESERVED_PARAMETERS = frozenset(
    {
        "listen_addresses",
        "port",
        "unix_socket_directories",
        "data_directory",
        "config_file",
        "hba_file",
        "ident_file",
        "archive_mode",
        "archive_command",
    }
)


def _check_identifier(name: str, what: str) -> None:
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(
            f"{what} name {name!r} must be lower-case letters, digits and _ "
            "(starting with a letter or _), at most 63 characters"
        )


def _none_is_empty(value: Any) -> Any:
    # `orders:` with nothing after it in YAML is None: the same as `orders: {}`.
    return {} if value is None else value


class RoleOptions(ComponentOptions):
    login: bool = Field(
        default=True,
        description="Whether the role can log in; a login role gets a generated password.",
    )


class DatabaseOptions(ComponentOptions):
    owner: str | None = Field(
        default=None,
        description=(
            "The role that owns the database. Default: a role named like the database. "
            "An owner not declared under `roles` is created as a login role."
        ),
    )


class PostgresBackupOptions(BackupOptions):
    mode: Literal["physical", "logical"] = Field(
        default="physical",
        description=(
            "What a scheduled backup takes: `physical` (base backup + WAL) or `logical` "
            "(pg_dump per database). On Kubernetes physical needs a directory `storage:` "
            "(a volume claim) without `encryption:`; with S3 or `encryption:` and no "
            "`mode:` written, backups there are logical."
        ),
    )
    wal_archive: bool = Field(
        default=True,
        description=(
            "Archive every WAL segment into the storage (archive_command), for "
            "point-in-time restore between base backups."
        ),
    )
    archive_timeout: int = Field(
        default=60,
        ge=0,
        description="Seconds after which a segment with any change is archived (0: when full).",
    )
    max_wal_backlog_mb: int = Field(
        default=1024,
        ge=64,
        description=(
            "While the storage cannot take WAL, pg_wal may grow to this many MB; past it "
            "segments are dropped (logged, and shown by `backup list`) so the database "
            "never fills its disk."
        ),
    )


class PostgresOptions(ComponentOptions):
    version: int | None = Field(
        default=None,
        ge=10,
        description=(
            "PostgreSQL major version (15, 16, ...). Default: the newest one installed, "
            "or Debian's default when none is."
        ),
    )
    port: int = Field(default=5432, ge=1, le=65535, description="TCP port on its own address.")
    databases: dict[str, DatabaseOptions] = Field(
        default_factory=dict,
        description=(
            "Databases created at `up` (existing ones are kept), by name. Services get "
            "DATABASE_URL for the first one, as its owner."
        ),
    )
    roles: dict[str, RoleOptions] = Field(
        default_factory=dict,
        description="Roles created at `up`, by name; passwords are generated and kept secret.",
    )
    message_db: bool = Field(
        default=False,
        description=(
            "Install the Message DB event store (database and role `message_store`) and "
            "hand services MESSAGE_DB_URL."
        ),
    )
    backups: PostgresBackupOptions | None = Field(
        default=None,
        description=(
            "Back this database up (`leapfrog backup`): base backups plus continuous WAL "
            "archiving. Absent: no archiving."
        ),
    )
    parameters: dict[str, str | int | float | bool] = Field(
        default_factory=dict,
        description=(
            "Server settings passed as `-c name=value` (shared_buffers, work_mem, ...); "
            "they override leapfrog's small-machine defaults."
        ),
    )

    @field_validator("databases", "roles", mode="before")
    @classmethod
    def _empty_entries(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {name: _none_is_empty(entry) for name, entry in value.items()}
        return _none_is_empty(value)

    @model_validator(mode="after")
    def _names(self) -> PostgresOptions:
        reserved = {SUPERUSER, "template0", "template1"}
        if self.message_db:
            reserved.add(MESSAGE_STORE)
        for kind, names in (("database", self.databases), ("role", self.roles)):
            for name in names:
                _check_identifier(name, kind)
                if name in reserved:
                    raise ValueError(f"{kind} name {name!r} is reserved by leapfrog")
        for name, database in self.databases.items():
            owner = database.owner or name
            _check_identifier(owner, "owner")
            if owner in reserved and owner != SUPERUSER:
                raise ValueError(f"database {name!r}: owner {owner!r} is reserved by leapfrog")
        for parameter in self.parameters:
            if not _PARAMETER.fullmatch(parameter):
                raise ValueError(f"{parameter!r} is not a PostgreSQL setting name")
            if parameter in _RESERVED_PARAMETERS:
                raise ValueError(f"setting {parameter!r} is chosen by leapfrog")
        return self

    def owner_of(self, database: str) -> str:
        return self.databases[database].owner or database

    def all_roles(self) -> dict[str, RoleOptions]:
        """Declared roles plus database owners that were not declared (login roles)."""
        roles = dict(self.roles)
        for database in self.databases:
            owner = self.owner_of(database)
            if owner != SUPERUSER:
                roles.setdefault(owner, RoleOptions())
        return roles
