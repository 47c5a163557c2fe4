"""Install Message DB (the npm package `@eventide/message-db`) into a running PostgreSQL.

The package ships SQL files and shell scripts that run them with psql; leapfrog runs
the same files in the same order as its install.sh, through psycopg, with all of the
schema in one transaction: an install is whole or absent, never half done.
"""

from __future__ import annotations

from pathlib import Path

from leapfrog.components._npm import cached_package, fetch_package
from leapfrog.components._postgres_options import MESSAGE_STORE
from leapfrog.components._postgres_secrets import password
from leapfrog.components._postgres_setup import admin_connection, ensure_database, ensure_role
from leapfrog.components.base import Instance, Progress
from leapfrog.shared.errors import LeapfrogError

__all__ = ["PACKAGE", "VERSION", "fetch_message_db", "install_message_db"]

PACKAGE = "@eventide/message-db"
VERSION = "1.3.1"
"""Pinned, so that a cached copy is known good without asking the registry."""

# install.sh's order, after the role and the database: schema, extension, table, then
# install-functions.sh, install-indexes.sh, install-views.sh, install-privileges.sh.
_SCHEMA_FILES = (
    "schema/message-store.sql",
    "extensions/pgcrypto.sql",
    "tables/messages.sql",
    "types/message.sql",
    "functions/message-store-version.sql",
    "functions/hash-64.sql",
    "functions/acquire-lock.sql",
    "functions/category.sql",
    "functions/is-category.sql",
    "functions/id.sql",
    "functions/cardinal-id.sql",
    "functions/stream-version.sql",
    "functions/write-message.sql",
    "functions/get-stream-messages.sql",
    "functions/get-category-messages.sql",
    "functions/get-last-stream-message.sql",
    "indexes/messages-id.sql",
    "indexes/messages-stream.sql",
    "indexes/messages-category.sql",
    "views/stream-summary.sql",
    "views/type-summary.sql",
    "views/stream-type-summary.sql",
    "views/type-stream-summary.sql",
    "views/category-type-summary.sql",
    "views/type-category-summary.sql",
    "privileges/schema.sql",
    "privileges/table.sql",
    "privileges/sequence.sql",
    "privileges/functions.sql",
    "privileges/views.sql",
)
_SEARCH_PATH = f"{MESSAGE_STORE}, public"


def fetch_message_db(cache_dir: Path, progress: Progress) -> Path:
    """The package's `database` folder in the cache, fetched with npm the first time."""
    return fetch_package(cache_dir, PACKAGE, VERSION, progress) / "database"


def _sql_dir(cache_dir: Path) -> Path:
    database = cached_package(cache_dir, PACKAGE, VERSION) / "database"
    if not (database / "install.sh").is_file():
        raise LeapfrogError(
            f"Message DB ({PACKAGE}@{VERSION}) is not in the cache at {database}",
            hint="the component's install step fetches it; run `leapfrog up` again",
        )
    return database


async def install_message_db(where: Instance) -> bool:
    """Role, database and schema; False when Message DB was already installed."""
    from psycopg import sql

    database = _sql_dir(where.cache_dir)
    async with await admin_connection(where) as conn:
        await conn.execute(sql.SQL((database / "roles/message-store.sql").read_text()))
        await ensure_role(conn, MESSAGE_STORE, login=True, secret=password(where, MESSAGE_STORE))
        await ensure_database(conn, MESSAGE_STORE, "postgres")
    async with await admin_connection(where, MESSAGE_STORE) as conn:
        # Message DB's functions name its tables without a schema: every session of the
        # database, whoever its role, needs this search path.
        await conn.execute(
            sql.SQL("ALTER DATABASE {} SET search_path = {}").format(
                sql.Identifier(MESSAGE_STORE), sql.SQL(_SEARCH_PATH)
            )
        )
        cursor = await conn.execute(
            "SELECT to_regprocedure('message_store.message_store_version()') IS NOT NULL"
        )
        row = await cursor.fetchone()
        if row is not None and row[0]:
            return False
        async with conn.transaction():
            await conn.execute(sql.SQL(f"SET LOCAL search_path = {_SEARCH_PATH}"))
            await conn.execute("SET LOCAL client_min_messages = warning")
            for name in _SCHEMA_FILES:
                await conn.execute(sql.SQL((database / name).read_text()))
    return True
