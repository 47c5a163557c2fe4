"""The PostgreSQL driver.

- `physical` (default): `pg_basebackup -Ft -X fetch` streamed into one object
  (`base.tar`), plus continuous WAL archiving into `<store>/wal/` of the storage, set up
  by the component when its options declare `backups:` (a shell script copying into a
  directory; leapfrog's `walpush` for S3 or encrypted storage, walpush.py). A restore
  extracts the base backup, replays archived WAL to `--to` (or to the end of the
  archive), lets the server promote, and leaves a normal cluster behind.
- `logical`: `pg_dump -Fc` per database (in the same snapshot as the facts) and the
  roles (`pg_dumpall --globals-only`); restored by dropping and recreating each database.
  It may be limited to chosen databases (`--database`, names or patterns), at backup
  and at restore; a physical backup is always the whole cluster.

Facts (row count and checksum per table) are read after the base backup inside one
snapshot per database, followed by a named restore point whose LSN verify replays to.
A commit racing that snapshot can make a physical verify report a difference on a busy
store; a logical backup's facts come from the dump's own snapshot and are exact.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import IO, Any, ClassVar

import psycopg

from leapfrog.backup._objects import prefetched
from leapfrog.backup._pg_facts import ConsistentPoint, database_facts, databases, diff_facts
from leapfrog.backup._pg_scratch import chown_tree, scratch_server, wait_promoted
from leapfrog.backup._untar import untar
from leapfrog.backup.control import RunControl
from leapfrog.backup.driver import (
    BackupDriver,
    BackupError,
    Sink,
    Source,
    Store,
    Taken,
    Verified,
    pick,
)
from leapfrog.backup.encryption import Keyring
from leapfrog.backup.factory import open_storage, secret_names
from leapfrog.backup.manifest import Manifest
from leapfrog.backup.storage import Storage
from leapfrog.backup.walpush import write_config
from leapfrog.components.postgres import (
    GAPS_DIR,
    PGDATA,
    SUPERUSER,
    WALPUSH_CONFIG,
    PostgresBackupOptions,
    archive_dir,
    archive_settings,
    shell_archive_script,
    socket_dir,
    uses_walpush,
    walpush_command,
)
from leapfrog.shared.named_secrets import named_secrets

__all__ = ["PostgresDriver"]

_CHUNK = 1 << 20
_ARCHIVE_WAIT = 120.0
_RECOVERY_BEGIN = "# leapfrog restore: begin"
_RECOVERY_END = "# leapfrog restore: end"


def _bin(store: Store) -> Path:
    return Path(store.installation.extra["bin"])


def _backups(store: Store) -> PostgresBackupOptions:
    found: PostgresBackupOptions | None = store.options.backups
    return found or PostgresBackupOptions()


def _host(store: Store) -> str:
    """The server's Unix socket folder locally (peer authentication); its address when
    the store is remote (TCP, the superuser's password from $PGPASSWORD)."""
    return store.where.address if store.remote else str(socket_dir(store.where))


def _connect(store: Store, database: str = "postgres") -> psycopg.Connection:
    where = store.where
    try:
        return psycopg.connect(
            host=_host(store),
            port=where.port,
            user=SUPERUSER,
            dbname=database,
            autocommit=True,
            connect_timeout=5,
            application_name="leapfrog-backup",
        )
    except psycopg.OperationalError as exc:
        lines = str(exc).strip().splitlines()
        raise BackupError(
            f"PostgreSQL {where.instance} is not answering: {lines[-1] if lines else exc}",
            hint="start it (`leapfrog up`) and run the backup again",
        ) from exc


def _stream(stdout: IO[bytes]) -> Iterator[bytes]:
    # A 1 MiB pipe instead of 64 KiB: pg_basebackup writes on while a chunk is
    # compressed, and each side wakes up 16 times less often (bench/backup_postgres.py).
    with contextlib.suppress(OSError, AttributeError):
        fcntl.fcntl(stdout.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), _CHUNK)
    while chunk := stdout.read(_CHUNK):
        yield chunk


def _tail(path: Path) -> str:
    lines = path.read_text(errors="replace").strip().splitlines() if path.exists() else []
    return " | ".join(lines[-3:]) or "no output"


class PostgresDriver(BackupDriver):
    kind: ClassVar[str] = "postgres"
    modes: ClassVar[tuple[str, ...]] = ("physical", "logical")
    chooses: ClassVar[str] = "database"

    def _whole_cluster(self) -> None:
        if self.only:
            raise BackupError(
                "a physical backup is always of the whole cluster: databases cannot be chosen",
                hint="use --mode logical to choose databases",
            )

    # -- backup -------------------------------------------------------------------
    def backup(self, store: Store, mode: str, sink: Sink, run: RunControl) -> Taken:
        if mode != "logical":
            self._whole_cluster()
        with _connect(store) as conn:
            row = conn.execute("SELECT current_setting('server_version')").fetchone()
            version = str(row[0]).split()[0] if row else "?"
        if mode == "logical":
            return self._logical(store, sink, run, version)
        return self._physical(store, sink, run, version)

    def _ensure_archive(self, store: Store) -> Storage:
        """The storage the WAL archive is in, ready for the archiver: a directory's
        `wal/` folder made (owned by the instance's user), walpush's config written."""
        backups = _backups(store)
        if store.remote:
            return self._remote_archive(store, backups)
        if store.options.backups is None or not backups.wal_archive:
            raise BackupError(
                f"{store.name} does not archive its WAL, so a physical backup could not be "
                "restored to a point in time nor verified",
                hint=f"declare `backups: {{}}` under components: {store.name} and run "
                "`leapfrog up`, or use --mode logical",
            )
        if not backups.is_s3:
            archive = archive_dir(backups, store.where)
            archive.mkdir(parents=True, exist_ok=True)
            for parent in (archive.parent, archive.parent.parent):
                parent.chmod(0o711)
            archive.chmod(0o700)
            if store.where.run_as is not None:
                os.chown(archive, *store.where.run_as)
        self._walpush_config(store)
        return open_storage(backups, _state_dir(store))

    def _remote_archive(self, store: Store, backups: PostgresBackupOptions) -> Storage:
        """A server on Kubernetes archives with the shell script into the backup claim,
        which this Job mounts as its storage directory: the archive folder made here
        (as the server's user, the Job's own) starts it keeping segments."""
        if backups.storage is None or uses_walpush(backups):
            raise BackupError(
                f"a physical backup of {store.name} needs its WAL archived into the backup "
                "storage, which a PostgreSQL on Kubernetes does into a volume claim only, "
                "unencrypted",
                hint="take a logical backup (--mode logical, the BackupSchedule's "
                "store.mode: logical), or store backups in a claim without encryption",
            )
        archive_dir(backups, store.where).mkdir(mode=0o700, parents=True, exist_ok=True)
        return open_storage(backups, _state_dir(store))

    def _walpush_config(self, store: Store) -> None:
        """walpush's config (storage, secrets) in the instance's data directory."""
        backups = _backups(store)
        if not uses_walpush(backups):
            return
        secrets = named_secrets(_state_dir(store))
        if backups.encryption is not None:
            Keyring(secrets, backups.encryption).current()  # generated now if it is new
        values = {}
        for name in secret_names(backups):
            value = secrets.get(name)
            if value is None:
                raise BackupError(
                    f"the secret {name!r} named in {store.name}'s `backups:` is not set",
                    hint=f"set it: `leapfrog secrets --set {name}`",
                )
            values[name] = value
        write_config(
            store.where.data_dir / WALPUSH_CONFIG,
            options=backups,
            state_dir=_state_dir(store),
            store=store.where.name,
            secrets=values,
            owner=store.where.run_as,
        )

    def _physical(self, store: Store, sink: Sink, run: RunControl, version: str) -> Taken:
        archive = self._ensure_archive(store)
        where = store.where
        with tempfile.TemporaryDirectory(prefix="lf-pgbb-", dir=run.temp_dir) as tmp:
            err = Path(tmp) / "stderr"
            argv = [
                str(_bin(store) / "pg_basebackup"),
                "-h",
                _host(store),
                "-p",
                str(where.port),
                "-U",
                SUPERUSER,
                "-D",
                "-",
                "-Ft",
                "-X",
                "fetch",
                "--checkpoint=fast",
                "--no-password",
                "-v",
                "--label=leapfrog",
            ]
            with err.open("wb") as errors:
                proc = run.spawn(argv, stdout=subprocess.PIPE, stderr=errors)
            assert proc.stdout is not None
            try:
                sink.put("base.tar", _stream(proc.stdout))
            finally:
                proc.stdout.close()
                code = proc.wait()
            run.check()
            text = err.read_text(errors="replace")
            if code != 0:
                raise BackupError(f"pg_basebackup failed (exit {code}): {_tail(err)}")
        start = re.search(r"start point: (\S+) on timeline (\d+)", text)
        end = re.search(r"end point: (\S+)", text)
        scan_started = time.monotonic()
        # The scan runs in the server's backends while this thread waits for the
        # restore point's segment in the archive (and the engine reads the base backup
        # back): the facts are in the snapshots, the point is already fixed.
        with (
            ConsistentPoint(lambda database: _connect(store, database)) as point,
            ThreadPoolExecutor(max_workers=2, thread_name_prefix="pg-facts") as pool,
        ):
            scans = {name: pool.submit(database_facts, conn) for name, conn in point.readers}
            segment = self._await_archived(store, archive, point.lsn, run)
            facts = {name: scan.result() for name, scan in scans.items()}
        scan_seconds = round(time.monotonic() - scan_started, 2)
        position = {
            "start_lsn": start.group(1) if start else "",
            "timeline": start.group(2) if start else "",
            "end_lsn": end.group(1) if end else "",
            "verify_lsn": point.lsn,
            "verify_point": point.name,
            "verify_wal": segment,
        }
        return Taken(
            store_version=version,
            position=position,
            facts={"databases": facts, "scan_seconds": scan_seconds},
        )

    def _await_archived(self, store: Store, archive: Storage, lsn: str, run: RunControl) -> str:
        """Switch WAL and wait for the segment holding `lsn` in the archive: proof that
        archiving works and that verify can replay to the facts' point."""
        with _connect(store) as conn:
            row = conn.execute("SELECT pg_walfile_name(%s::pg_lsn)", [lsn]).fetchone()
            conn.execute("SELECT pg_switch_wal()")
        assert row is not None
        segment = str(row[0])
        key = _wal_prefix(store) + segment
        deadline = time.monotonic() + _ARCHIVE_WAIT
        while archive.keys(key) != [key]:
            run.check()
            if time.monotonic() > deadline:
                raise BackupError(
                    f"WAL segment {segment} did not reach the archive ({archive.description}) "
                    f"within "
                    f"{_ARCHIVE_WAIT:g}s: archiving is not working",
                    hint=f"see the log of {store.where.instance} (`leapfrog logs`) and "
                    "pg_stat_archiver",
                )
            time.sleep(0.02)  # a stat: polling often costs nothing and ends the wait early
        run.progressed(f"WAL {segment} archived")
        return segment

    def _logical(self, store: Store, sink: Sink, run: RunControl, version: str) -> Taken:
        where = store.where
        common = ["-h", _host(store), "-p", str(where.port), "-U", SUPERUSER]
        with _connect(store) as conn:
            names = pick(databases(conn), self.only, "database", f"PostgreSQL {where.instance}")
        globals_sql = run.spawn(
            [str(_bin(store) / "pg_dumpall"), *common, "--globals-only"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        out, errs = globals_sql.communicate()
        if globals_sql.returncode != 0:
            raise BackupError(f"pg_dumpall failed: {errs.decode(errors='replace').strip()}")
        sink.put("globals.sql", [out])
        facts = {}
        for name in names:
            with _connect(store, name) as conn, conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                row = conn.execute("SELECT pg_export_snapshot()").fetchone()
                assert row is not None
                facts[name] = database_facts(conn)
                with tempfile.TemporaryFile() as errors:
                    proc = run.spawn(
                        [
                            str(_bin(store) / "pg_dump"),
                            *common,
                            "-Fc",
                            f"--snapshot={row[0]}",
                            "-d",
                            name,
                        ],
                        stdout=subprocess.PIPE,
                        stderr=errors,
                    )
                    assert proc.stdout is not None
                    try:
                        sink.put(f"{name}.dump", _stream(proc.stdout))
                    finally:
                        proc.stdout.close()
                        code = proc.wait()
                    if code != 0:
                        errors.seek(0)
                        raise BackupError(f"pg_dump of {name} failed: {errors.read().decode()}")
        return Taken(store_version=version, position={}, facts={"databases": facts})

    # -- restore ------------------------------------------------------------------
    def position_summary(self, position: Mapping[str, str]) -> str:
        """A physical backup's WAL range (a logical one has no position)."""
        if not position.get("start_lsn"):
            return ""
        return (
            f"LSN {position['start_lsn']}..{position.get('end_lsn') or '?'} "
            f"timeline {position.get('timeline') or '?'}"
        )

    def choose(self, manifests: Sequence[Manifest], to: datetime | None) -> Manifest | None:
        """A point in time needs a physical backup; otherwise the newest of any mode."""
        if to is not None:
            manifests = [m for m in manifests if m.mode == "physical"]
        return super().choose(manifests, to)

    def checks_as_it_restores(self, manifest: Manifest) -> bool:
        """A physical restore extracts base.tar through the sha256-checking source, into
        a new data directory: a bad object puts the one set aside back."""
        return manifest.mode == "physical"

    def replaces(self, store: Store, manifest: Manifest, to: datetime | None) -> list[str]:
        where = store.where
        if manifest.mode == "logical":
            names = self._chosen(manifest)
            return [
                f"replaces databases {', '.join(names)} on {where.instance}: each is dropped "
                "and recreated (connections to it are closed), `postgres` is cleaned instead",
                f"from the logical backup {manifest.id} ({manifest.ended:%Y-%m-%d %H:%M:%S} UTC)",
            ]
        self._whole_cluster()
        point = f"to {to:%Y-%m-%d %H:%M:%S} UTC" if to else "to the newest archived WAL"
        return [
            f"replaces the whole data directory {where.data_dir / PGDATA} of {where.instance}",
            f"with base backup {manifest.id} (ended {manifest.ended:%Y-%m-%d %H:%M:%S} UTC), "
            f"recovered {point}",
            f"{where.instance} must be stopped (`leapfrog down`); every change after that "
            "point is lost",
        ]

    def restore(
        self, store: Store, source: Source, storage: Storage, to: datetime | None, run: RunControl
    ) -> str:
        if source.manifest.mode == "logical":
            if to is not None:
                raise BackupError("a logical backup restores as it was; --to needs a physical one")
            names = self._chosen(source.manifest)
            self._logical_restore(store, source, run, names)
            return f"databases {', '.join(names)} restored from {source.manifest.id}"
        self._whole_cluster()
        pgdata = store.where.data_dir / PGDATA
        if store.remote:
            _remote_stopped(store)
        elif _server_running(pgdata):
            raise BackupError(
                f"{store.where.instance} is running on {pgdata} (postmaster.pid exists)",
                hint="stop it first: `leapfrog down`, then restore, then `leapfrog up`",
            )
        aside = pgdata.with_name(f"{PGDATA}.before-restore")
        shutil.rmtree(aside, ignore_errors=True)
        if pgdata.exists():
            pgdata.rename(aside)
        try:
            self._extract(source, pgdata, store.where.run_as, run)
            settings = self._recovery(store, storage, to)
            _append_recovery(pgdata, settings)
            chown_tree(pgdata, store.where.run_as)
            log = store.where.data_dir / "restore.log"
            # Archiving on, as the instance itself: the new timeline's history file and
            # first segments must reach the archive, or a later restore cannot follow it.
            archiving = _archiving(store, run)
            with scratch_server(
                _bin(store), pgdata, store.where.run_as, run, archiving, log
            ) as server:
                wait_promoted(server, run)
                with server.connect() as conn:
                    row = conn.execute("SELECT now()::text, pg_current_wal_lsn()::text").fetchone()
            _drop_recovery(pgdata)
        except BaseException:
            shutil.rmtree(pgdata, ignore_errors=True)
            if aside.exists():
                aside.rename(pgdata)
            raise
        shutil.rmtree(aside, ignore_errors=True)
        (pgdata / "recovery.signal").unlink(missing_ok=True)
        lsn = row[1] if row else "?"
        target = f"{to:%Y-%m-%d %H:%M:%S} UTC" if to else "the newest archived WAL"
        return f"{store.where.instance} restored from {source.manifest.id} to {target} (LSN {lsn})"

    def _extract(self, source: Source, pgdata: Path, run_as: Any, run: RunControl) -> None:
        pgdata.mkdir(mode=0o700, parents=True)
        # Read, checked and decompressed in a thread of its own while `tar` writes.
        untar(prefetched(source.open("base.tar")), pgdata, "base.tar", run)
        pgdata.chmod(0o700)

    def _recovery(self, store: Store, storage: Storage, to: datetime | None) -> dict[str, str]:
        backups = _backups(store)
        archive = archive_dir(backups, store.where)
        command = f"cp {shlex.quote(str(archive))}/%f %p"
        if uses_walpush(backups):
            self._walpush_config(store)  # the data directory may be a wiped one
            command = walpush_command(backups, store.where, "fetch")
        settings = {
            "restore_command": command,
            "recovery_target_timeline": "latest",
            "recovery_target_action": "promote",
        }
        if to is not None:
            settings["recovery_target_time"] = to.strftime("%Y-%m-%d %H:%M:%S.%f+00")
        return settings

    def _chosen(self, manifest: Manifest) -> list[str]:
        held = list(manifest.facts.get("databases", {}))
        return pick(held, self.only, "database", f"backup {manifest.id}")

    def _logical_restore(
        self, store: Store, source: Source, run: RunControl, names: list[str]
    ) -> None:
        common = ["-h", _host(store), "-p", str(store.where.port), "-U", SUPERUSER]
        work = store.where.data_dir
        _restore_dumps(_bin(store), common, source, (names, _connect(store)), run, work)

    # -- verify -------------------------------------------------------------------
    def verify(
        self, store: Store, source: Source, storage: Storage, scratch: Path, run: RunControl
    ) -> Verified:
        manifest = source.manifest
        expected: dict[str, Any] = manifest.facts.get("databases", {})
        pgdata = scratch / PGDATA
        log = scratch / "postgres.log"
        chown_tree(scratch, store.where.run_as)
        if manifest.mode == "logical":
            init = run.spawn(
                [
                    str(_bin(store) / "initdb"),
                    "-D",
                    str(pgdata),
                    "-U",
                    SUPERUSER,
                    "--auth-local",
                    "peer",
                    "--auth-host",
                    "reject",
                    "--encoding",
                    "UTF8",
                    "--locale",
                    "C.UTF-8",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                **_as_user(store.where.run_as),
            )
            if init.wait() != 0:
                raise BackupError("initdb of the scratch instance failed")
            with scratch_server(_bin(store), pgdata, store.where.run_as, run, {}, log) as server:
                common = ["-h", str(server.sockets), "-p", "5432", "-U", SUPERUSER]
                _restore_dumps(_bin(store), common, source, (None, server.connect()), run, scratch)
                found = _all_facts(server.connect, expected)
        else:
            self._extract(source, pgdata, store.where.run_as, run)
            settings = self._recovery(store, storage, None)
            # The backup's own timeline: a later restore may have branched off it
            # before the facts' point, and following that branch would fail.
            settings["recovery_target_timeline"] = "current"
            if manifest.position.get("verify_point"):
                settings["recovery_target_name"] = manifest.position["verify_point"]
            else:  # a manifest from before named points
                settings["recovery_target_lsn"] = manifest.position["verify_lsn"]
            _append_recovery(pgdata, settings)
            chown_tree(pgdata, store.where.run_as)
            extra = {"archive_mode": "off"}  # never write the scratch's WAL into the archive
            with scratch_server(_bin(store), pgdata, store.where.run_as, run, extra, log) as server:
                wait_promoted(server, run)
                found = _all_facts(server.connect, expected)
        differences = diff_facts(expected, found)
        tables = sum(len(t) for t in found.values())
        if differences:
            return Verified(False, "restored copy differs: " + "; ".join(differences[:10]), found)
        return Verified(
            True,
            f"restored into a scratch instance: {len(found)} databases, {tables} tables "
            "match the manifest (rows and checksums)",
            found,
        )

    # -- list and prune -----------------------------------------------------------
    def describe(self, store: Store, storage: Storage, manifests: Sequence[Manifest]) -> list[str]:
        notes = []
        segments = _segments(store, storage)
        if segments:
            notes.append(f"WAL archive: {len(segments)} files, {segments[0]} .. {segments[-1]}")
        gaps_dir = store.where.data_dir / GAPS_DIR
        gaps = sorted(p.name for p in gaps_dir.iterdir()) if gaps_dir.is_dir() else []
        physical = [m for m in manifests if m.mode == "physical"]
        newest = physical[-1].position.get("verify_wal", "") if physical else ""
        open_gaps = [g for g in gaps if g[8:] > newest[8:]]
        if open_gaps:
            notes.append(
                f"WAL GAP: {len(open_gaps)} segments dropped while the storage was unusable "
                f"(first {open_gaps[0]}): no point-in-time restore past it until the next backup"
            )
        return notes

    def prune(self, store: Store, storage: Storage, kept: Sequence[Manifest]) -> list[str]:
        """WAL older than the oldest kept physical backup's start is needed by none."""
        physical = [m for m in kept if m.mode == "physical" and m.position.get("start_lsn")]
        if not physical:
            return []
        oldest = min(physical, key=lambda m: m.ended)
        first_needed = _segment_of(oldest.position["timeline"], oldest.position["start_lsn"])
        removed = []
        for name in _segments(store, storage):
            if name[8:] < first_needed[8:]:
                storage.delete(_wal_prefix(store) + name)
                removed.append(name)
        return removed


def _remote_stopped(store: Store) -> None:
    """A restore on Kubernetes replaces the server's data directory in its claim, which
    its Job mounts (`--server-data-dir` names where the server has it): only while the
    server is stopped, which its Service answering or not tells."""
    if store.server_data_dir is None:
        raise BackupError(
            f"a physical restore replaces {store.name}'s data directory, which this "
            "process cannot reach: no data claim is mounted",
            hint="restore through a Restore object (its Job mounts the server's claim), "
            "or restore a logical backup",
        )
    try:
        with psycopg.connect(
            host=store.where.address,
            port=store.where.port,
            user=SUPERUSER,
            dbname="postgres",
            connect_timeout=5,
        ):
            answered = True
    except psycopg.OperationalError as exc:
        # A refusal (FATAL: a wrong password, starting up) is the server answering
        # too; only no answer (refused, timed out, no such host) is a stopped server.
        answered = "FATAL" in str(exc)
    if answered:
        raise BackupError(
            f"{store.name} is running: its data directory is replaced only while it is stopped",
            hint=f"kubectl scale statefulset {store.name} --replicas=0, then restore again, "
            "then scale it back to 1",
        )


def _archiving(store: Store, run: RunControl) -> dict[str, str]:
    """The archive settings of the server that a restore's recovery runs: the
    instance's own locally; on Kubernetes the same shell script into the claim this
    Job mounts (the server's own script is in its pod's ConfigMap)."""
    backups = _backups(store)
    if not store.remote:
        found = archive_settings(backups, store.where)
        found.pop("archive_timeout")
        return found
    # In the run's temporary folder, which the next run under the lock empties.
    script = Path(tempfile.mkdtemp(prefix="lf-pgarch-", dir=run.temp_dir)) / "archive-wal.sh"
    archive = archive_dir(backups, store.where)
    gaps = store.where.data_dir / GAPS_DIR
    script.write_text(shell_archive_script(archive, gaps, backups, store.name))
    return {
        "archive_mode": "on",
        "archive_command": f"/bin/sh {shlex.quote(str(script))} %p %f",
        "wal_level": "replica",
    }


def _state_dir(store: Store) -> Path:
    """The stack's state directory: the runtime lays instances out as
    `<state dir>/data/<instance>`."""
    return store.where.data_dir.parent.parent


def _wal_prefix(store: Store) -> str:
    return f"{store.where.name}/wal/"


def _segments(store: Store, storage: Storage) -> list[str]:
    """The WAL segments in the archive, oldest first."""
    prefix = _wal_prefix(store)
    names = [key[len(prefix) :] for key in storage.keys(prefix)]
    return sorted(n for n in names if re.fullmatch(r"[0-9A-F]{24}", n))


def _server_running(pgdata: Path) -> bool:
    """Whether the postmaster.pid names a live process (a killed server leaves it)."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return False
    return Path(f"/proc/{pid}").exists()


def _segment_of(timeline: str, lsn: str, segment_size: int = 16 << 20) -> str:
    high, low = (int(part, 16) for part in lsn.split("/"))
    number = ((high << 32) | low) // segment_size
    per_xlogid = 0x100000000 // segment_size
    return f"{int(timeline):08X}{number // per_xlogid:08X}{number % per_xlogid:08X}"


def _as_user(run_as: tuple[int, int] | None) -> dict[str, Any]:
    return {"user": run_as[0], "group": run_as[1], "extra_groups": []} if run_as else {}


def _all_facts(connect: Any, expected: dict[str, Any]) -> dict[str, Any]:
    found = {}
    with connect() as conn:
        present = set(databases(conn))
    for name, tables in expected.items():
        if name in present:
            with connect(name) as conn:
                found[name] = database_facts(conn, tables)
    return found


def _restore_dumps(  # noqa: PLR0917
    bin_dir: Path,
    common: list[str],
    source: Source,
    target: tuple[list[str] | None, psycopg.Connection],
    run: RunControl,
    work: Path,
) -> None:
    """Restore the dumps of the databases `target` names (None: every one) through its
    connection."""
    from psycopg import sql

    chosen, admin = target
    names = [
        name
        for e in source.manifest.objects
        if e.name.removesuffix(".zst").endswith(".dump")
        and (name := e.name.removesuffix(".zst").removesuffix(".dump"))
        and (chosen is None or name in chosen)
    ]
    with admin:
        globals_sql = b"".join(source.open("globals.sql")).decode()
        for statement in globals_sql.split(";\n"):
            if statement.strip().upper().startswith(("CREATE ROLE", "ALTER ROLE")):
                with contextlib.suppress(psycopg.errors.DuplicateObject):
                    admin.execute(statement.encode())
        for name in names:
            if name == "postgres":
                continue
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        for name in names:
            dump = Path(tmp) / f"{name}.dump"
            source.extract(f"{name}.dump", dump)
            os.chmod(tmp, 0o755)
            dump.chmod(0o644)
            run.progressed(f"restoring {name}")
            argv = [str(bin_dir / "pg_restore"), *common, "--no-password"]
            argv += (
                ["--clean", "--if-exists", "-d", name]
                if name == "postgres"
                else ["--create", "-d", "postgres"]
            )
            proc = run.spawn([*argv, str(dump)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            _, errs = proc.communicate()
            if proc.returncode != 0:
                raise BackupError(
                    f"pg_restore of {name} failed: {errs.decode(errors='replace').strip()[-400:]}"
                )


def _append_recovery(pgdata: Path, settings: dict[str, str]) -> None:
    quoted = {k: v.replace("'", "''") for k, v in settings.items()}
    lines = [_RECOVERY_BEGIN] + [f"{k} = '{v}'" for k, v in quoted.items()] + [_RECOVERY_END]
    with (pgdata / "postgresql.auto.conf").open("a") as conf:
        conf.write("\n" + "\n".join(lines) + "\n")
    (pgdata / "recovery.signal").write_text("")


def _drop_recovery(pgdata: Path) -> None:
    conf = pgdata / "postgresql.auto.conf"
    text = conf.read_text()
    pattern = re.compile(
        re.escape(_RECOVERY_BEGIN) + r".*?" + re.escape(_RECOVERY_END) + r"\n", re.S
    )
    conf.write_text(pattern.sub("", text))
