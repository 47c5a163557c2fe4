"""A PostgreSQL server leapfrog starts itself on a data directory, for a restore's
recovery and for verify: its own short socket directory, no TCP, its own access
rules, run as the instance's user; stopped (fast) when done."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import psycopg

from leapfrog.backup.control import RunControl
from leapfrog.backup.driver import BackupError
from leapfrog.components.postgres import SUPERUSER

__all__ = ["ScratchServer", "chown_tree", "scratch_server"]

_PORT = 5432  # only names the socket file, in a directory of its own
_POLL = 0.05
"""Between connection attempts: a restore waits on nothing else once the server is up."""


def chown_tree(path: Path, run_as: tuple[int, int] | None) -> None:
    if run_as is None:
        return
    uid, gid = run_as
    for item in [path, *path.rglob("*")]:
        os.lchown(item, uid, gid)


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


class ScratchServer:
    def __init__(self, sockets: Path, log: Path) -> None:
        self.sockets = sockets
        self.log = log

    def connect(self, database: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(
            host=str(self.sockets),
            port=_PORT,
            user=SUPERUSER,
            dbname=database,
            autocommit=True,
            connect_timeout=5,
        )

    def tail(self, lines: int = 6) -> str:
        try:
            text = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        return " | ".join(text[-lines:])


@contextlib.contextmanager
def scratch_server(  # noqa: PLR0917
    bin_dir: Path,
    pgdata: Path,
    run_as: tuple[int, int] | None,
    run: RunControl,
    settings: Mapping[str, str],
    log: Path,
) -> Iterator[ScratchServer]:
    """A started server that accepts connections (it may still be recovering)."""
    sockets = Path(tempfile.mkdtemp(prefix="lf-pgs-"))
    conf = sockets / "conf"
    conf.mkdir()
    users = {_user(os.geteuid())} | ({_user(run_as[0])} if run_as else set())
    (conf / "hba").write_text(
        f"local all {SUPERUSER} peer map=scratch\nlocal replication {SUPERUSER} peer map=scratch\n"
    )
    (conf / "ident").write_text("".join(f"scratch {u} {SUPERUSER}\n" for u in sorted(users)))
    chown_tree(sockets, run_as)
    sockets.chmod(0o755)
    argv = [str(bin_dir / "postgres"), "-D", str(pgdata)]
    for name, value in {
        "listen_addresses": "",
        "port": str(_PORT),
        "unix_socket_directories": str(sockets),
        "hba_file": str(conf / "hba"),
        "ident_file": str(conf / "ident"),
        "shared_buffers": "32MB",
        # Connections are accepted only once recovery is over, so no setting needs to
        # match the primary's (max_connections and the like, which a hot standby checks).
        "hot_standby": "off",
        "logging_collector": "off",
        "timezone": "UTC",
        **settings,
    }.items():
        argv += ["-c", f"{name}={value}"]
    user = {"user": run_as[0], "group": run_as[1], "extra_groups": []} if run_as else {}
    server = ScratchServer(sockets, log)
    with log.open("ab") as out:
        proc = run.spawn(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={"LC_ALL": "C.UTF-8", "TZ": "UTC", "PATH": "/usr/bin:/bin"},
            **user,
        )
    logged = 0
    try:
        while True:
            run.check()
            if proc.poll() is not None:
                raise BackupError(f"PostgreSQL on the restored data exited: {server.tail()}")
            try:
                with server.connect():
                    break
            except psycopg.OperationalError:
                time.sleep(_POLL)
                # Progress is the server's log growing ("restored log file ... from
                # archive"): a recovery stuck without a word fails at --stall-after.
                size = log.stat().st_size
                if size != logged:
                    logged = size
                    run.progressed("recovering")
        yield server
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(sockets, ignore_errors=True)


def wait_promoted(server: ScratchServer, run: RunControl) -> None:
    """Until recovery ended and the server accepts writes."""
    while True:
        run.check()
        try:
            with server.connect() as conn:
                row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
            if row is not None and not row[0]:
                return
        except psycopg.OperationalError as exc:
            raise BackupError(f"recovery failed: {server.tail()}") from exc
        run.progressed("replaying WAL")
        time.sleep(_POLL)
