"""What a PostgreSQL cluster holds, per database and table: row count and a checksum
of the rows that does not depend on their order: the sum of a 48-bit hash of each
row's text (PostgreSQL's own `hashtextextended`, twice as fast as md5 here; the same
server binary computes both sides, so the hash needs no portability)."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

__all__ = ["database_facts", "databases", "diff_facts"]

_TABLES = """
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1, 2
"""


def databases(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY 1"
    ).fetchall()
    return [str(r[0]) for r in rows]


def database_facts(conn: psycopg.Connection) -> dict[str, list[Any]]:
    """`schema.table` -> [rows, checksum] in the connection's current snapshot."""
    facts: dict[str, list[Any]] = {}
    for schema, table in conn.execute(_TABLES).fetchall():
        query = sql.SQL(
            "SELECT count(*), coalesce(sum(hashtextextended(t::text, 0) >> 16), 0)::text "
            "FROM {}.{} t"
        ).format(sql.Identifier(schema), sql.Identifier(table))
        row = conn.execute(query).fetchone()
        assert row is not None
        facts[f"{schema}.{table}"] = [int(row[0]), str(row[1])]
    return facts


def diff_facts(expected: dict[str, Any], found: dict[str, Any]) -> list[str]:
    """Differences, one line each: missing databases or tables, counts, checksums."""
    lines = []
    for db in sorted(set(expected) | set(found)):
        want, got = expected.get(db), found.get(db)
        if want is None or got is None:
            lines.append(f"database {db} {'missing' if got is None else 'not in the backup'}")
            continue
        for table in sorted(set(want) | set(got)):
            a, b = want.get(table), got.get(table)
            if a is None or b is None:
                lines.append(f"{db}.{table} {'missing' if b is None else 'not in the backup'}")
            elif a[0] != b[0]:
                lines.append(f"{db}.{table} has {b[0]} rows, the backup had {a[0]}")
            elif a[1] != b[1]:
                lines.append(f"{db}.{table} rows differ (checksum)")
    return lines
