"""InfluxDB's options as the stack file gives them, the config file they become, and the
InfluxQL statements that create the declared databases and retention policies."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from leapfrog.components._backup_options import BackupOptions
from leapfrog.components.base import ComponentOptions

__all__ = [
    "InfluxDBBackupOptions",
    "InfluxDBOptions",
    "InfluxDatabaseOptions",
    "InfluxRetentionPolicyOptions",
    "create_database",
    "influxdb_conf",
    "quote_ident",
    "retention_policy_statement",
]

_DURATION = r"^(INF|inf|([0-9]+(ns|u|µ|ms|s|m|h|d|w))+)$"


class InfluxRetentionPolicyOptions(ComponentOptions):
    duration: str = Field(
        pattern=_DURATION,
        description="How long points are kept: an InfluxQL duration such as `7d`, `12w`, "
        "`1h` (at least one hour), or `INF` for forever.",
    )
    shard_duration: str | None = Field(
        None,
        pattern=_DURATION,
        description="Time range of each shard group; unset: InfluxDB's choice for the duration.",
    )
    default: bool = Field(
        False, description="Points written without a policy go here (one per database)."
    )


class InfluxDatabaseOptions(ComponentOptions):
    retention_policies: dict[str, InfluxRetentionPolicyOptions] = Field(
        default_factory=dict,
        description="Retention policies created in the database and updated when the stack "
        "file changes; without a default one, InfluxDB's `autogen` (forever) stays the default.",
    )

    @model_validator(mode="after")
    def _one_default(self) -> InfluxDatabaseOptions:
        defaults = [name for name, rp in self.retention_policies.items() if rp.default]
        if len(defaults) > 1:
            raise ValueError(f"only one retention policy can be the default: {defaults}")
        return self


class InfluxDBBackupOptions(BackupOptions):
    """`backups:` of InfluxDB: the shared options and what a backup holds."""

    databases: list[str] = Field(
        default_factory=list,
        description="Databases `leapfrog backup run` backs up (names or shell patterns); empty: "
        "every database but `_internal`. `--database` overrides it.",
    )


class InfluxDBOptions(ComponentOptions):
    version: str = Field(
        "1.8.10",
        pattern=r"^1\.8\.[0-9]+$",
        description="InfluxDB version (1.8.x), built from its Go module; without Go, "
        "Debian's package (1.6.7) runs instead.",
    )
    port: int = Field(8086, ge=1, le=65535, description="Port of the HTTP API.")
    backups: InfluxDBBackupOptions | None = Field(
        default=None,
        description="Where `leapfrog backup` keeps this store's backups, and how many.",
    )
    rpc_port: int = Field(
        8088, ge=1, le=65535, description="Port of the RPC service that backups and restores use."
    )
    databases: dict[str, InfluxDatabaseOptions] = Field(
        default_factory=dict,
        description="Databases created at `up`, each with its retention policies.",
    )


def influxdb_conf(
    options: InfluxDBOptions, *, host: str, port: int, data: Path, rpc_host: str | None = None
) -> str:
    """One server listening on `host` (HTTP) and `rpc_host` (RPC), its files under `data`.

    Flux and usage reporting are off, as is the `_internal` monitoring database (the
    platform collects InfluxDB's stats from /debug/vars) and the per-request access log
    (every health probe and write would be a line).
    """
    rpc = rpc_host if rpc_host is not None else host
    return (
        "# Written by leapfrog before each start; edit the stack file instead.\n"
        "reporting-disabled = true\n"
        f'bind-address = "{rpc}:{options.rpc_port}"\n'
        "\n[meta]\n"
        f'  dir = "{data / "meta"}"\n'
        "\n[data]\n"
        f'  dir = "{data / "data"}"\n'
        f'  wal-dir = "{data / "wal"}"\n'
        '  index-version = "tsi1"\n'
        "  query-log-enabled = false\n"
        "\n[monitor]\n"
        "  store-enabled = false\n"
        "\n[http]\n"
        f'  bind-address = "{host}:{port}"\n'
        "  flux-enabled = false\n"
        "  log-enabled = false\n"
        "  pprof-enabled = false\n"
        "\n[logging]\n"
        '  format = "logfmt"\n'
        '  level = "info"\n'
    )


def quote_ident(name: str) -> str:
    """An InfluxQL identifier in double quotes (backslash escapes quotes and itself)."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def create_database(name: str) -> str:
    """CREATE DATABASE does nothing when the database exists."""
    return f"CREATE DATABASE {quote_ident(name)}"


def retention_policy_statement(
    verb: str, database: str, name: str, policy: InfluxRetentionPolicyOptions
) -> str:
    """CREATE or ALTER RETENTION POLICY with every declared setting."""
    parts = [
        f"{verb} RETENTION POLICY {quote_ident(name)} ON {quote_ident(database)}",
        f"DURATION {policy.duration}",
        "REPLICATION 1",
    ]
    if policy.shard_duration:
        parts.append(f"SHARD DURATION {policy.shard_duration}")
    if policy.default:
        parts.append("DEFAULT")
    return " ".join(parts)
