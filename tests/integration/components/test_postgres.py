"""The postgres component against Debian's real PostgreSQL: services' DATABASE_URL,
declared roles and databases, secrets, Message DB, and data across a restart."""

from __future__ import annotations

import asyncio
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from leapfrog.components._messagedb import install_message_db
from leapfrog.components._postgres_secrets import password_file
from leapfrog.components.postgres import Postgres
from leapfrog.testing import RunningComponent, run_component, scratch_dir

OPTIONS: dict[str, Any] = {
    "databases": {"orders": {}, "audit": {"owner": "app"}},
    "roles": {"app": {"login": True}, "readers": {"login": False}},
    "message_db": True,
    "parameters": {"work_mem": "16MB"},
}
ADDRESS = "127.0.0.52"


@pytest.fixture(scope="module")
def postgres() -> Iterator[RunningComponent]:
    with (
        scratch_dir("lf-postgres-") as base,
        run_component("postgres", OPTIONS, base, address=ADDRESS) as running,
    ):
        yield running


def tcp_url(running: RunningComponent, role: str, database: str) -> str:
    comp = running.component
    assert isinstance(comp, Postgres)
    secret = comp.credentials(running.options, running.where)[role]
    return (
        f"host={ADDRESS} port={running.where.port} user={role} dbname={database} password={secret}"
    )


@pytest.mark.timeout(120)
def test_services_query_through_the_injected_database_url(postgres: RunningComponent) -> None:
    env = postgres.env()
    assert env["PGHOST"] == ADDRESS and env["PGPORT"] == "5432"
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        row = conn.execute("SELECT current_user, current_database(), 40 + 2").fetchone()
        setting = conn.execute("SHOW work_mem").fetchone()
    assert row == ("orders", "orders", 42)
    assert setting == ("16MB",)


@pytest.mark.timeout(120)
def test_declared_roles_and_databases_exist(postgres: RunningComponent) -> None:
    with psycopg.connect(tcp_url(postgres, "postgres", "postgres")) as conn:
        owners: dict[str, str] = dict(
            conn.execute(
                "SELECT datname, pg_get_userbyid(datdba) FROM pg_database "
                "WHERE datname IN ('orders', 'audit', 'message_store')"
            ).fetchall()
        )
        logins: dict[str, bool] = dict(
            conn.execute(
                "SELECT rolname, rolcanlogin FROM pg_roles "
                "WHERE rolname IN ('app', 'readers', 'orders', 'message_store')"
            ).fetchall()
        )
    assert owners == {"orders": "orders", "audit": "app", "message_store": "postgres"}
    assert logins == {"app": True, "readers": False, "orders": True, "message_store": True}
    with psycopg.connect(tcp_url(postgres, "app", "audit")) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("app",)


@pytest.mark.timeout(120)
def test_a_wrong_password_is_refused(postgres: RunningComponent) -> None:
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(f"host={ADDRESS} port=5432 user=app dbname=audit password=wrong")


@pytest.mark.timeout(120)
def test_passwords_are_private_files_and_never_on_a_command_line(
    postgres: RunningComponent,
) -> None:
    comp = postgres.component
    assert isinstance(comp, Postgres)
    secrets = comp.credentials(postgres.options, postgres.where)
    assert set(secrets) == {"postgres", "orders", "app", "message_store"}
    assert postgres.popen is not None
    argv = Path(f"/proc/{postgres.popen.pid}/cmdline").read_bytes().decode()
    log = postgres.log_path.read_text(errors="replace")
    for role, secret in secrets.items():
        mode = password_file(postgres.where, role).stat().st_mode
        assert stat.S_IMODE(mode) == 0o600
        assert secret not in argv
        assert secret not in log


@pytest.mark.timeout(120)
def test_setup_again_changes_nothing(postgres: RunningComponent) -> None:
    query = "SELECT rolname, rolpassword FROM pg_authid ORDER BY rolname"
    with psycopg.connect(tcp_url(postgres, "postgres", "postgres")) as conn:
        before = conn.execute(query).fetchall()
        postgres.setup()
        after = conn.execute(query).fetchall()
    assert before == after
    assert asyncio.run(install_message_db(postgres.where)) is False  # already installed


@pytest.mark.timeout(120)
def test_health_names_the_version_and_databases(postgres: RunningComponent) -> None:
    health = postgres.health()
    assert health.ok
    assert health.detail.startswith(f"PostgreSQL {postgres.installation.version}")
    assert health.detail.endswith(", 4 databases")  # postgres, orders, audit, message_store


@pytest.mark.timeout(180)
def test_rows_survive_a_restart(postgres: RunningComponent) -> None:
    url = postgres.env()["DATABASE_URL"]
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS kept (note text)")
        conn.execute("INSERT INTO kept VALUES ('written before stop')")
    assert postgres.stop() == 0
    assert not postgres.health().ok
    postgres.start()
    with psycopg.connect(url) as conn:
        notes = conn.execute("SELECT note FROM kept").fetchall()
    assert ("written before stop",) in notes
