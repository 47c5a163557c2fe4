"""PostgreSQL from Debian's packages, one cluster per instance in its data directory,
with the declared roles and databases, and Message DB when asked for.

Passwords are generated once into the stack's secrets folder (mode 0600); they reach
services only inside the environment leapfrog hands them (DATABASE_URL, MESSAGE_DB_URL)
and people only through `Postgres.credentials`, which an explicit command prints.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from pathlib import Path
from typing import ClassVar

from leapfrog.components._messagedb import fetch_message_db, install_message_db
from leapfrog.components._postgres_archive import (
    GAPS_DIR,
    WALPUSH_CONFIG,
    archive_dir,
    archive_settings,
    shell_archive_script,
    storage_root,
    uses_walpush,
    walpush_command,
)
from leapfrog.components._postgres_config import PGDATA, postgres_process, socket_dir
from leapfrog.components._postgres_install import install_server
from leapfrog.components._postgres_options import (
    MESSAGE_STORE,
    SUPERUSER,
    PostgresBackupOptions,
    PostgresOptions,
)
from leapfrog.components._postgres_secrets import connection_url, password
from leapfrog.components._postgres_setup import admin_connection, set_up
from leapfrog.components.base import (
    Component,
    ComponentOptions,
    Health,
    Installation,
    Instance,
    Process,
    Progress,
)
from leapfrog.components.kube import KubeContext, KubeRender
from leapfrog.telemetry import POSTGRES, LogFormat, Sample

__all__ = [
    "GAPS_DIR",
    "PGDATA",
    "SUPERUSER",
    "WALPUSH_CONFIG",
    "Postgres",
    "PostgresBackupOptions",
    "PostgresOptions",
    "archive_dir",
    "archive_settings",
    "shell_archive_script",
    "socket_dir",
    "storage_root",
    "uses_walpush",
    "walpush_command",
]

_PROBE_TIMEOUT = 5.0


class Postgres(Component[PostgresOptions]):
    kind: ClassVar[str] = "postgres"
    options_model: ClassVar[type[ComponentOptions]] = PostgresOptions
    default_port: ClassVar[int] = 5432
    description: ClassVar[str] = "PostgreSQL (Debian's packages), optionally with Message DB"

    def install(
        self, options: PostgresOptions, cache_dir: Path, progress: Progress
    ) -> Installation:
        installation = install_server(options.version, progress)
        if not options.message_db:
            return installation
        sql = fetch_message_db(cache_dir, progress)
        extra = {**installation.extra, "message_db": str(sql)}
        return dataclasses.replace(installation, extra=extra)

    def process(
        self, options: PostgresOptions, installation: Installation, where: Instance
    ) -> Process:
        return postgres_process(options, installation, where, admin_uid=os.geteuid())

    async def health(self, options: PostgresOptions, where: Instance) -> Health:
        try:
            async with asyncio.timeout(_PROBE_TIMEOUT):
                async with await admin_connection(where) as conn:
                    cursor = await conn.execute(
                        "SELECT current_setting('server_version'), count(*) "
                        "FROM pg_database WHERE NOT datistemplate"
                    )
                    row = await cursor.fetchone()
        except TimeoutError:
            return Health(False, f"no answer within {_PROBE_TIMEOUT:g}s")
        except Exception as exc:  # any failure is an unhealthy probe, reported in one line
            lines = str(exc).strip().splitlines()
            return Health(False, lines[-1] if lines else type(exc).__name__)
        if row is None:
            return Health(False, "SELECT answered no row")
        version, databases = row
        return Health(True, f"PostgreSQL {str(version).split()[0]}, {databases} databases")

    async def setup(self, options: PostgresOptions, where: Instance) -> None:
        await set_up(options, where)
        if options.message_db:
            await install_message_db(where)

    def connection_env(self, options: PostgresOptions, where: Instance) -> dict[str, str]:
        role, database = SUPERUSER, "postgres"
        if options.databases:
            database = next(iter(options.databases))
            owner = options.owner_of(database)
            if owner == SUPERUSER or options.all_roles()[owner].login:
                role = owner
        env = {
            "DATABASE_URL": self._url(where, role, database),
            "PGHOST": where.address,
            "PGPORT": str(where.port),
        }
        if options.message_db:
            env["MESSAGE_DB_URL"] = self._url(where, MESSAGE_STORE, MESSAGE_STORE)
        return env

    def log_format(self, options: PostgresOptions) -> LogFormat:
        return POSTGRES

    async def metrics(self, options: PostgresOptions, where: Instance) -> list[Sample]:
        from leapfrog.components._postgres_metrics import postgres_samples

        return await postgres_samples(where)

    def credentials(self, options: PostgresOptions, where: Instance) -> dict[str, str]:
        """Every login role's password, by role: for a command that prints them on request."""
        roles = [SUPERUSER]
        roles += [name for name, role in options.all_roles().items() if role.login]
        if options.message_db:
            roles.append(MESSAGE_STORE)
        return {role: password(where, role) for role in roles}

    def render_kubernetes(self, options: PostgresOptions, kube: KubeContext) -> KubeRender:
        from leapfrog.components._postgres_kube import render_postgres

        return render_postgres(options, kube)

    @staticmethod
    def _url(where: Instance, role: str, database: str) -> str:
        return connection_url(role, password(where, role), where.address, where.port, database)
