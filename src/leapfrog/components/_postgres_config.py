"""How one PostgreSQL instance runs: initdb once, then `postgres` with settings on argv.

Access rules (pg_hba.conf, kept outside the cluster so leapfrog owns them):
- over TCP on the instance's own address, every role logs in with its SCRAM password;
- over the Unix socket in the data directory, only the OS user running leapfrog (and
  the instance's own user) may log in, as the superuser, by peer credentials. That is
  how health probes and setup reach the server before any password is set.
"""

from __future__ import annotations

import hashlib
import ipaddress
import pwd
import shlex
from pathlib import Path

from leapfrog.components._postgres_archive import (
    ARCHIVE_SCRIPT,
    archive_script,
    archive_settings,
    uses_walpush,
)
from leapfrog.components._postgres_options import SUPERUSER, PostgresOptions
from leapfrog.components.base import Installation, Instance, Process

__all__ = ["PGDATA", "postgres_process", "socket_dir"]

PGDATA = "pgdata"
# Small-machine defaults (2 cores, shared with other programs); `parameters` override them.
_DEFAULTS: dict[str, str] = {
    "shared_buffers": "128MB",
    "max_connections": "100",
    "work_mem": "8MB",
    "maintenance_work_mem": "64MB",
    "effective_cache_size": "1GB",
    "max_wal_size": "1GB",
    "max_worker_processes": "4",
    "max_parallel_workers": "2",
    "max_parallel_workers_per_gather": "1",
    "logging_collector": "off",
    "log_destination": "stderr",
    "log_line_prefix": "%m [%p] %q%u@%d ",
    "password_encryption": "scram-sha-256",
    "ssl": "off",
    "timezone": "UTC",
    "log_timezone": "UTC",
}
_SUN_PATH_MAX = 107  # bytes in a Unix socket address, the kernel's limit


def socket_dir(where: Instance) -> Path:
    """The data directory, unless its socket path would be too long for the kernel."""
    if len(f"{where.data_dir}/.s.PGSQL.{where.port}".encode()) <= _SUN_PATH_MAX:
        return where.data_dir
    digest = hashlib.sha256(str(where.data_dir).encode()).hexdigest()[:16]
    return Path("/tmp") / f"leapfrog-pg-{digest}"


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _ident(where: Instance, admin_uid: int) -> str:
    users = {_user_name(admin_uid)}
    if where.run_as is not None:
        users.add(_user_name(where.run_as[0]))
    lines = [f"leapfrog  {user}  {SUPERUSER}" for user in sorted(users)]
    return "# MAPNAME  OS-USER  ROLE (written by leapfrog)\n" + "\n".join(lines) + "\n"


def _hba(where: Instance) -> str:
    # A client of a loopback address connects from 127.0.0.1 whatever the address it
    # dialled, so every loopback source is allowed (still with a password).
    sources = ["127.0.0.0/8", "::1/128"]
    try:
        if not ipaddress.ip_address(where.address).is_loopback:
            sources.append(f"{where.address}/32")
    except ValueError:  # a host name, which pg_hba.conf takes as it is
        sources.append(where.address)
    hosts = "".join(f"host   all  all  {source}  scram-sha-256\n" for source in sources)
    return (
        "# TYPE  DATABASE  USER  ADDRESS  METHOD (written by leapfrog)\n"
        f"local  all  {SUPERUSER}  peer map=leapfrog\n"
        # pg_basebackup's replication connection is not matched by `all`.
        f"local  replication  {SUPERUSER}  peer map=leapfrog\n" + hosts
    )


def _initdb(bin_dir: Path, pgdata: Path) -> tuple[str, ...]:
    # Only when the cluster is not there yet: init commands run before every start.
    initdb = shlex.join(
        [
            str(bin_dir / "initdb"),
            "--pgdata",
            str(pgdata),
            "--username",
            SUPERUSER,
            "--encoding",
            "UTF8",
            "--locale",
            "C.UTF-8",
            "--auth-local",
            "peer",
            "--auth-host",
            "reject",
        ]
    )
    return ("/bin/sh", "-c", f"[ -f {shlex.quote(str(pgdata / 'PG_VERSION'))} ] || exec {initdb}")


def postgres_process(
    options: PostgresOptions, installation: Installation, where: Instance, admin_uid: int
) -> Process:
    """The instance's process; `admin_uid` is the OS user that runs health and setup."""
    bin_dir = Path(installation.extra["bin"])
    pgdata = where.data_dir / PGDATA
    conf = where.data_dir / "conf"
    sockets = socket_dir(where)
    settings = {
        **_DEFAULTS,
        "cluster_name": where.instance,
        **{name: _setting(value) for name, value in options.parameters.items()},
        "listen_addresses": where.address,
        "port": str(where.port),
        "unix_socket_directories": str(sockets),
        "hba_file": str(conf / "pg_hba.conf"),
        "ident_file": str(conf / "pg_ident.conf"),
    }
    files = {"conf/pg_hba.conf": _hba(where), "conf/pg_ident.conf": _ident(where, admin_uid)}
    if options.backups is not None and options.backups.wal_archive:
        settings.update(archive_settings(options.backups, where))
        if not uses_walpush(options.backups):
            files[ARCHIVE_SCRIPT] = archive_script(options.backups, where)
    argv = [str(bin_dir / "postgres"), "-D", str(pgdata)]
    for name, value in settings.items():
        argv += ["-c", f"{name}={value}"]
    init = [_initdb(bin_dir, pgdata)]
    if sockets != where.data_dir:
        init.insert(0, ("/bin/mkdir", "-p", "-m", "0700", str(sockets)))
    return Process(
        argv=tuple(argv),
        env={"LC_ALL": "C.UTF-8", "TZ": "UTC"},
        files=files,
        init=tuple(init),
        # SIGINT is PostgreSQL's "fast" shutdown: it does not wait for clients to leave.
        stop_signal="SIGINT",
        stop_grace_period=30.0,
        start_timeout=60.0,
    )


def _setting(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)
