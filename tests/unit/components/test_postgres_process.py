"""The postgres component's options, process and connection environment, without a server."""

from __future__ import annotations

import os
import pwd
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from pydantic import BaseModel, ValidationError

from leapfrog.components import component
from leapfrog.components._postgres_config import socket_dir
from leapfrog.components._postgres_options import DatabaseOptions, RoleOptions
from leapfrog.components.base import Installation, Instance
from leapfrog.components.postgres import Postgres, PostgresOptions

INSTALLATION = Installation(
    version="15.18",
    home=Path("/usr/lib/postgresql/15"),
    extra={"bin": "/usr/lib/postgresql/15/bin", "major": "15"},
)


def where(tmp_path: Path, data_dir: Path | None = None) -> Instance:
    return Instance(
        name="postgres",
        instance="postgres-1",
        address="127.0.0.9",
        port=5433,
        data_dir=data_dir or tmp_path / "data" / "postgres-1",
        secrets_dir=tmp_path / "secrets",
        cache_dir=tmp_path / "cache",
        run_as=None,
    )


def options(**raw: object) -> PostgresOptions:
    return Postgres().options(raw)


def settings(argv: tuple[str, ...]) -> dict[str, str]:
    pairs = [argv[i + 1] for i, arg in enumerate(argv) if arg == "-c"]
    return dict(pair.split("=", 1) for pair in pairs)


def test_the_registry_knows_postgres() -> None:
    assert isinstance(component("postgres"), Postgres)


def test_defaults() -> None:
    opts = options()
    assert (opts.version, opts.port, opts.message_db) == (None, 5432, False)
    assert Postgres().port(opts) == 5432
    assert Postgres().port(options(port=6543)) == 6543


def test_every_option_is_described_for_the_generated_docs() -> None:
    models: list[type[BaseModel]] = [PostgresOptions, DatabaseOptions, RoleOptions]
    for model in models:
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"


def test_empty_entries_are_accepted_and_owners_default_to_the_database_name() -> None:
    opts = options(databases={"orders": None, "audit": {"owner": "app"}}, roles={"app": None})
    assert opts.owner_of("orders") == "orders"
    assert opts.owner_of("audit") == "app"
    roles = opts.all_roles()
    assert set(roles) == {"app", "orders"}
    assert roles["orders"].login


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ({"databases": {"Orders": {}}}, "lower-case"),
        ({"databases": {"a-b": {}}}, "lower-case"),
        ({"roles": {"x" * 64: {}}}, "63 characters"),
        ({"roles": {"postgres": {}}}, "reserved"),
        ({"databases": {"template1": {}}}, "reserved"),
        ({"message_db": True, "roles": {"message_store": {}}}, "reserved"),
        ({"databases": {"orders": {"owner": "Bad Name"}}}, "owner name"),
        ({"parameters": {"port": 1}}, "chosen by leapfrog"),
        ({"parameters": {"listen_addresses": "*"}}, "chosen by leapfrog"),
        ({"parameters": {"work mem": "1MB"}}, "not a PostgreSQL setting"),
        ({"colour": "blue"}, "Extra inputs"),
        ({"roles": {"app": {"login": "perhaps"}}}, "boolean"),
        ({"port": 0}, "greater than"),
    ],
)
def test_invalid_options_are_refused(raw: dict[str, object], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        options(**raw)


def test_the_process_listens_on_its_own_address_and_keeps_files_in_its_data_dir(
    tmp_path: Path,
) -> None:
    instance = where(tmp_path)
    process = Postgres().process(options(), INSTALLATION, instance)
    assert process.argv[:3] == (
        "/usr/lib/postgresql/15/bin/postgres",
        "-D",
        str(instance.data_dir / "pgdata"),
    )
    found = settings(process.argv)
    assert found["listen_addresses"] == "127.0.0.9"
    assert found["port"] == "5433"
    assert found["unix_socket_directories"] == str(instance.data_dir)
    assert found["hba_file"] == str(instance.data_dir / "conf" / "pg_hba.conf")
    assert found["logging_collector"] == "off"  # the log goes to stdout, to leapfrog
    assert process.stop_signal == "SIGINT"


def test_parameters_override_the_defaults(tmp_path: Path) -> None:
    opts = options(parameters={"shared_buffers": "256MB", "fsync": False, "work_mem": 4096})
    found = settings(Postgres().process(opts, INSTALLATION, where(tmp_path)).argv)
    assert found["shared_buffers"] == "256MB"
    assert found["fsync"] == "off"
    assert found["work_mem"] == "4096"


def test_initdb_runs_only_for_a_new_cluster(tmp_path: Path) -> None:
    instance = where(tmp_path)
    (init,) = Postgres().process(options(), INSTALLATION, instance).init
    assert init[:2] == ("/bin/sh", "-c")
    script = init[2]
    assert script.startswith(f"[ -f {instance.data_dir / 'pgdata' / 'PG_VERSION'} ] || exec ")
    assert "/usr/lib/postgresql/15/bin/initdb" in script
    assert "--username postgres" in script
    assert "--auth-host reject" in script  # until leapfrog's own pg_hba.conf is in charge


def test_access_rules_need_passwords_over_tcp_and_peer_over_the_socket(tmp_path: Path) -> None:
    files = Postgres().process(options(), INSTALLATION, where(tmp_path)).files
    hba = files["conf/pg_hba.conf"]
    assert "local  all  postgres  peer map=leapfrog" in hba
    assert "host   all  all  127.0.0.0/8  scram-sha-256" in hba
    assert "trust" not in hba
    me = pwd.getpwuid(os.geteuid()).pw_name
    assert f"leapfrog  {me}  postgres" in files["conf/pg_ident.conf"]


def test_no_password_is_in_the_process(tmp_path: Path) -> None:
    instance = where(tmp_path)
    opts = options(databases={"orders": {}}, message_db=True)
    comp = Postgres()
    secrets = comp.credentials(opts, instance)
    process = comp.process(opts, INSTALLATION, instance)
    text = repr((process.argv, process.env, process.files, process.init))
    assert secrets and all(secret not in text for secret in secrets.values())


def test_a_long_data_dir_gets_its_socket_in_tmp(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 120) / "postgres-1"
    instance = where(tmp_path, deep)
    sockets = socket_dir(instance)
    assert sockets.parent == Path("/tmp") and len(str(sockets)) < 60
    assert socket_dir(instance) == sockets  # the same every time
    process = Postgres().process(options(), INSTALLATION, instance)
    assert settings(process.argv)["unix_socket_directories"] == str(sockets)
    assert process.init[0] == ("/bin/mkdir", "-p", "-m", "0700", str(sockets))


def test_connection_env_for_the_first_database_as_its_owner(tmp_path: Path) -> None:
    instance = where(tmp_path)
    opts = options(databases={"orders": {}, "audit": {}}, message_db=True)
    comp = Postgres()
    env = comp.connection_env(opts, instance)
    secrets = comp.credentials(opts, instance)
    url = urlsplit(env["DATABASE_URL"])
    assert (url.scheme, url.username, url.hostname, url.port, url.path) == (
        "postgresql",
        "orders",
        "127.0.0.9",
        5433,
        "/orders",
    )
    assert unquote(url.password or "") == secrets["orders"]
    assert (env["PGHOST"], env["PGPORT"]) == ("127.0.0.9", "5433")
    message_db = urlsplit(env["MESSAGE_DB_URL"])
    assert (message_db.username, message_db.path) == ("message_store", "/message_store")
    assert comp.connection_env(opts, instance) == env  # passwords are generated once


def test_connection_env_without_databases_is_the_superuser(tmp_path: Path) -> None:
    env = Postgres().connection_env(options(), where(tmp_path))
    url = urlsplit(env["DATABASE_URL"])
    assert (url.username, url.path) == ("postgres", "/postgres")
    assert "MESSAGE_DB_URL" not in env


def test_a_database_owned_by_a_role_without_login_is_reached_as_the_superuser(
    tmp_path: Path,
) -> None:
    opts = options(databases={"reports": {"owner": "readers"}}, roles={"readers": {"login": False}})
    url = urlsplit(Postgres().connection_env(opts, where(tmp_path))["DATABASE_URL"])
    assert (url.username, url.path) == ("postgres", "/reports")


def test_credentials_list_login_roles_only(tmp_path: Path) -> None:
    opts = options(roles={"app": {}, "readers": {"login": False}}, databases={"orders": {}})
    assert set(Postgres().credentials(opts, where(tmp_path))) == {"postgres", "app", "orders"}
