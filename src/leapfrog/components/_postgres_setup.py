"""Create what the stack file declares in a running PostgreSQL: roles, passwords and
databases. Every step looks first and changes only what differs, so setup can run on
every start."""

from __future__ import annotations

from typing import TYPE_CHECKING

from leapfrog.components._postgres_config import socket_dir
from leapfrog.components._postgres_options import SUPERUSER, PostgresOptions
from leapfrog.components._postgres_secrets import password, scram_matches, scram_verifier
from leapfrog.components.base import Instance

if TYPE_CHECKING:
    from psycopg import AsyncConnection

__all__ = ["admin_connection", "ensure_database", "ensure_role", "set_up"]


async def admin_connection(where: Instance, database: str = "postgres") -> AsyncConnection:
    """The superuser over the Unix socket (peer credentials), in autocommit mode."""
    import psycopg

    return await psycopg.AsyncConnection.connect(
        host=str(socket_dir(where)),
        port=where.port,
        user=SUPERUSER,
        dbname=database,
        autocommit=True,
        connect_timeout=5,
        application_name="leapfrog",
    )


async def ensure_role(conn: AsyncConnection, name: str, *, login: bool, secret: str | None) -> None:
    from psycopg import sql

    cursor = await conn.execute(
        "SELECT rolcanlogin, rolpassword FROM pg_authid WHERE rolname = %s", [name]
    )
    row = await cursor.fetchone()
    can_login = sql.SQL("LOGIN" if login else "NOLOGIN")
    if row is None:
        await conn.execute(sql.SQL("CREATE ROLE {} {}").format(sql.Identifier(name), can_login))
    elif row[0] != login:
        await conn.execute(sql.SQL("ALTER ROLE {} {}").format(sql.Identifier(name), can_login))
    if secret is not None and not scram_matches(row[1] if row else None, secret):
        await conn.execute(
            sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                sql.Identifier(name), sql.Literal(scram_verifier(secret))
            )
        )


async def ensure_database(conn: AsyncConnection, name: str, owner: str) -> None:
    from psycopg import sql

    cursor = await conn.execute(
        "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", [name]
    )
    row = await cursor.fetchone()
    if row is None:
        # CREATE DATABASE cannot run inside a transaction: the connection is autocommit.
        await conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(owner)
            )
        )
    elif row[0] != owner:
        await conn.execute(
            sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
                sql.Identifier(name), sql.Identifier(owner)
            )
        )


async def set_up(options: PostgresOptions, where: Instance) -> None:
    async with await admin_connection(where) as conn:
        await ensure_role(conn, SUPERUSER, login=True, secret=password(where, SUPERUSER))
        for name, role in options.all_roles().items():
            secret = password(where, name) if role.login else None
            await ensure_role(conn, name, login=role.login, secret=secret)
        for name in options.databases:
            await ensure_database(conn, name, options.owner_of(name))
