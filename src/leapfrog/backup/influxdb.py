"""The InfluxDB 1.8 driver: `influxd backup -portable` / `influxd restore -portable`.

- backup: one `influxd backup -portable` of every database through the instance's RPC
  address; each file it writes (the manifest, `.meta`, one `.tar.gz` per shard) is one
  object. The server snapshots each shard, writing its in-memory cache to TSM first, so
  points acknowledged just before are in the backup (the test writes and backs up at once).
  Chosen databases (`--database`, names or patterns) are backed up one `influxd backup
  -db NAME` each, into folders `part<i>` whose objects are named `part<i>~<file>`
  (`position.parts` maps each part to its database).
- restore (server running): per database (all of the backup's, or the chosen ones),
  `DROP DATABASE` then `influxd restore -portable -db NAME` into the now absent name.
  Exact: the database is what the backup held (its retention policies and shards),
  nothing written since survives. The tool refuses an existing database; the `-newdb`
  + `SELECT * INTO` route would merge with what is there and rewrite every point, so it
  is not used. Writes to the database between the drop and the restore fail ("database
  not found").
- facts and verify: per database and measurement, the exact series count and the
  number of values of each field; verify restores into a scratch influxd on its own
  ports and data directory and compares.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import httpx

from leapfrog.backup._growing import Following
from leapfrog.backup._http import plain_client
from leapfrog.backup._influx_tsm import count_backup, count_server
from leapfrog.backup._scratch import scratch_instance
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
from leapfrog.backup.manifest import Manifest
from leapfrog.backup.storage import Storage
from leapfrog.components._influxdb_config import quote_ident
from leapfrog.shared.ports import free_port

__all__ = ["InfluxDBDriver"]

_CHUNK = 1 << 20
_EARLY_POLL = 0.01
"""Seconds between looks for the tool's shard files before the server's are counted."""
_SHARDS_WAIT = 60.0
"""Seconds a restored server's shards may stay disabled before verify gives up."""
_SKIP = {"_internal"}
_REOPENING = "engine is closed"
"""What influxd answers (tsdb.ErrEngineClosed) about a shard it is closing or opening, as
right after a restore or a drop: asked again, it answers."""
_REOPEN_WAIT = 15.0
_PARTS = "parts.json"
_UNCHANGED = "DB metadata not changed"
_FROM_SERVER_FILES = "server TSM files"
_FROM_BACKUP_FILES = "backup TSM files"
_FROM_SERVER_COUNT = "server COUNT(*)"
"""Where a backup's values per field were counted (`position.counted`)."""
_WRITE_COUNTERS = (
    "writeReq",
    "writeReqOk",
    "writeReqErr",
    "writePointsOk",
    "writePointsErr",
    "writePointsDropped",
)
"""A shard's counters in `SHOW STATS` (the first three: requests, done, failed)."""


def _binary(store: Store) -> str:
    return str(store.installation.extra["binary"])


def _rpc(address: str, port: int) -> str:
    return f"{address}:{port}"


class _Http:
    """InfluxQL over the HTTP API of one server."""

    def __init__(self, address: str, port: int, name: str) -> None:
        self._url = f"http://{address}:{port}"
        self._name = name
        self._client = plain_client(self._url, 120.0)

    def __enter__(self) -> _Http:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._client.close()

    def ping(self) -> str:
        try:
            response = self._client.get("/ping", timeout=5)
        except httpx.HTTPError as exc:
            raise BackupError(
                f"InfluxDB {self._name} is not answering at {self._url}: {exc}",
                hint="start it (`leapfrog up`) and run the backup again",
            ) from exc
        return str(response.headers.get("X-Influxdb-Version", "?"))

    def series(self, statement: str, database: str = "") -> list[dict[str, Any]]:
        deadline = time.monotonic() + _REOPEN_WAIT
        while True:
            try:
                response = self._client.post("/query", params={"q": statement, "db": database})
            except httpx.HTTPError as exc:
                raise BackupError(f"InfluxDB {self._name}: {statement}: {exc}") from exc
            body = response.json() if response.content else {}
            first = (body.get("results") or [{}])[0]
            if response.status_code == 200 and "error" not in first and "error" not in body:
                found: list[dict[str, Any]] = first.get("series", [])
                return found
            why = str(first.get("error") or body.get("error") or response.text[:200])
            if _REOPENING not in why or time.monotonic() > deadline:
                raise BackupError(f"InfluxDB {self._name} refused `{statement}`: {why}")
            time.sleep(0.2)

    def query(self, statement: str, database: str = "") -> list[list[Any]]:
        return [row for s in self.series(statement, database) for row in s.get("values", [])]

    def databases(self) -> list[str]:
        return sorted(str(r[0]) for r in self.query("SHOW DATABASES") if r[0] not in _SKIP)

    def writes(self, names: list[str]) -> list[Any]:
        """The write counters of every shard of the databases `names` (`SHOW STATS`):
        equal twice means no point was written to them in between (compactions and
        snapshots to disk do not count)."""
        found = []
        for shard in self.series("SHOW STATS FOR 'shard'"):
            tags = shard.get("tags") or {}
            if tags.get("database") not in names:
                continue
            values = (shard.get("values") or [[]])[0]
            row = dict(zip(shard.get("columns", []), values, strict=False))
            found.append((tags.get("id"), *(row.get(c) for c in _WRITE_COUNTERS)))
        return sorted(found, key=str)

    def census(self, names: list[str]) -> dict[str, Any]:
        """Per database (of `names` the server holds) and measurement: the exact series
        count, without values (no point is read)."""
        present = set(self.databases())
        found: dict[str, Any] = {}
        for db in names:
            if db not in present:
                continue
            measurements: dict[str, Any] = {
                str(name): {"series": 0, "values": {}}
                for (name,) in self.query("SHOW MEASUREMENTS", db)
            }
            for series in self.series("SHOW SERIES EXACT CARDINALITY", db):
                name = str(series.get("name", ""))
                rows = series.get("values") or [[0]]
                if name in measurements:
                    measurements[name]["series"] = int(rows[0][0])
            found[db] = measurements
        return found

    def shards(self, names: list[str]) -> dict[str, set[int]]:
        """The ids of the shards of each database of `names` (`SHOW SHARDS`)."""
        found: dict[str, set[int]] = {db: set() for db in names}
        for database in self.series("SHOW SHARDS"):
            db = str(database.get("name", ""))
            if db in found:
                found[db] |= {int(row[0]) for row in database.get("values") or []}
        return found

    def facts(self, names: list[str]) -> dict[str, Any]:
        """Per database and measurement: exact series count and values per field. A few
        queries per database, whatever its number of measurements (one `COUNT(*)` over
        every measurement of each retention policy): a scan of every point."""
        found = self.census(names)
        for db, measurements in found.items():
            for policy, *_rest in self.query(f"SHOW RETENTION POLICIES ON {quote_ident(db)}"):
                every = f"{quote_ident(db)}.{quote_ident(str(policy))}./.*/"
                for series in self.series(f"SELECT COUNT(*) FROM {every}", db):
                    entry = measurements.setdefault(
                        str(series.get("name", "")), {"series": 0, "values": {}}
                    )
                    columns = series.get("columns", [])
                    row = (series.get("values") or [[]])[0]
                    for column, count in zip(columns[1:], row[1:], strict=False):
                        if count:
                            key = f"{policy}.{column.removeprefix('count_')}"
                            entry["values"][key] = int(count)
        return found

    def facts_when_ready(self, names: list[str], run: RunControl) -> dict[str, Any]:
        """The facts of a server that just restored: its shards are disabled while they
        load ("shard is disabled"), for a moment."""
        deadline = time.monotonic() + _SHARDS_WAIT
        while True:
            try:
                return self.facts(names)
            except BackupError as exc:
                if "shard is disabled" not in str(exc) or time.monotonic() > deadline:
                    raise
            run.check()
            time.sleep(0.5)


def _run_tool(run: RunControl, argv: list[str], what: str) -> None:
    proc = run.spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line.decode(errors="replace").rstrip())
        run.progressed(what)
    code = proc.wait()
    run.check()
    if code != 0:
        raise BackupError(f"{what} failed (exit {code}): {' | '.join(lines[-3:]) or 'no output'}")


def _quiet(before: list[Any], after: list[Any]) -> bool:
    """No point written between two reads of the write counters: equal, and no write
    was in flight at the first (every request counted as done or failed)."""
    return before == after and all(None not in row and row[1] == row[2] + row[3] for row in before)


def _restore(
    store: Store, run: RunControl, files: Path, target: tuple[str, _Http], db: str
) -> None:
    rpc, http = target
    parts: dict[str, str] = {}
    if (files / _PARTS).exists():
        parts = json.loads((files / _PARTS).read_text())
    folder = files / parts[db] if db in parts else files
    if db in http.databases():
        http.query(f"DROP DATABASE {quote_ident(db)}")
    try:
        _run_tool(
            run,
            [_binary(store), "restore", "-portable", "-host", rpc, "-db", db, str(folder)],
            f"influxd restore of {db}",
        )
    except BackupError as exc:
        # influxd 1.8 creates a database without shards (no point yet) with its
        # retention policies, then reports "DB metadata not changed" and exits 1.
        if not (not _shards_of(folder, db) and _UNCHANGED in str(exc) and db in http.databases()):
            raise


def _shards_of(folder: Path, db: str) -> list[str]:
    """The shard files of `db` in a portable backup, from its `.manifest` files."""
    found = []
    for manifest in folder.glob("*.manifest"):
        listed = json.loads(manifest.read_text()).get("files") or []
        found += [str(f.get("fileName")) for f in listed if f.get("database") == db]
    return found


def _extract_all(source: Source, folder: Path, run: RunControl) -> None:
    """Every object into `folder` (`part<i>~<file>` into `folder/part<i>/<file>`), and the
    parts' databases into `folder/parts.json`."""
    parts = json.loads(source.manifest.position.get("parts", "{}"))
    (folder / _PARTS).write_text(json.dumps({db: part for part, db in parts.items()}))
    for entry in source.manifest.objects:
        name = entry.name.removesuffix(".zst") if entry.compression == "zstd" else entry.name
        part, _, file = name.rpartition("~")
        target = folder / part / file if part else folder / name
        target.parent.mkdir(exist_ok=True)
        source.extract(name, target)
        run.progressed(f"extracted {name}")


def _put_files(sink: Sink, folder: Path, prefix: str, stored: set[str]) -> None:
    """Each file the tool wrote as an object but those `stored` already (while it ran);
    the shards' `.tar.gz` (gzip already, which zstd cannot shrink) stored as they are."""
    for path in sorted(p for p in folder.iterdir() if p.is_file() and p.name not in stored):
        with path.open("rb") as data:
            chunks = iter(lambda d=data: d.read(_CHUNK), b"")  # type: ignore[misc]
            sink.put(prefix + path.name, chunks, compress=not path.name.endswith(".gz"))


def _has_tombstones(store: Store, names: list[str]) -> bool:
    """Whether a shard of `names` holds deleted points not yet compacted away (a
    `.tombstone` file in the server's data directory): its files cannot be counted."""
    data = store.where.data_dir / "data"
    return any(next((data / db).rglob("*.tombstone"), None) is not None for db in names)


def _count_early(
    census: Future[tuple[dict[str, Any], dict[str, set[int]]]],
    data: Path,
    folder: Path,
    tool_done: threading.Event,
) -> dict[str, Any] | None:
    """`count_server` of the census's shards as soon as the tool has written a
    `.tar.gz` of each (it asked the server for the shard's snapshot first, which writes
    the shard's cache to its TSM files), or once the tool is done: exact only while
    nothing is written, which `_counted` checks after."""
    known, listed = census.result()
    shards = {db: ids for db, ids in listed.items() if db in known}  # as `_counted` asks
    wanted = {shard for ids in shards.values() for shard in ids}
    while not tool_done.is_set():
        written = {p.name for p in folder.rglob("*.tar.gz")}
        if all(any(n.endswith(f".s{shard}.tar.gz") for n in written) for shard in wanted):
            break
        tool_done.wait(_EARLY_POLL)
    return count_server(data, shards)


@dataclass(frozen=True)
class _Server:
    """What the server said while the tool ran with nothing written."""

    known: dict[str, Any]
    """Per database and measurement, the series count (no values)."""
    shards: dict[str, set[int]]
    data: Path
    """Its data directory (`[data] dir`)."""
    quiet: Callable[[], bool]
    """Still nothing written since before the tool (the write counters)."""
    counted: Callable[[], dict[str, Any] | None] | None = None
    """`count_server` of these shards, counted already (while the tool ran, once it had
    flushed every one of them); None: counted when needed."""


def _counted(
    folders: list[tuple[Path, str]],
    names: list[str],
    server: _Server,
    scratch: tuple[Path, RunControl],
) -> tuple[dict[str, Any], str] | None:
    """The facts of a backup taken while nothing was written: the server's series counts
    (`SHOW SERIES EXACT CARDINALITY`), the values per field counted from the server's
    TSM files (right after the tool flushed every shard's cache to them, and only when
    still nothing was written once they are counted: a write since may have reached a
    new file) or else from the backup's own. None when neither can be counted exactly,
    or the backup lacks a shard or a measurement the server holds (a partial backup is
    not described as complete). With them, where the values were counted (the
    manifest's `position.counted`)."""
    known, shards = server.known, server.shards
    chosen = [db for db in names if db in known]
    found_shards = {db: set[int]() for db in names}
    for folder, _prefix in folders:
        for listing in folder.glob("*.manifest"):
            for shard in json.loads(listing.read_text()).get("files") or []:
                if shard.get("database") in found_shards:
                    found_shards[str(shard["database"])].add(int(shard.get("shardID", -1)))
    if any(found_shards[db] != shards.get(db, set()) for db in names):
        return None
    if server.counted is not None:
        facts = server.counted()
    else:
        facts = count_server(server.data, {db: shards.get(db, set()) for db in chosen})
    source = _FROM_SERVER_FILES
    if facts is not None and not server.quiet():
        facts = None
    if facts is None:
        facts, source = {}, _FROM_BACKUP_FILES
        for folder, _prefix in folders:
            counted = count_backup(folder, chosen, scratch[0], scratch[1].spawn)
            if counted is None:
                return None
            for db, measurements in counted.items():
                if db in facts and measurements:
                    return None  # one database in two folders: not a layout the tool writes
                facts.setdefault(db, {}).update(measurements)
    out: dict[str, Any] = {}
    for db, measurements in known.items():
        counted_db = facts.get(db, {})
        if set(counted_db) - set(measurements):
            return None
        out[db] = {}
        for name, entry in measurements.items():
            values = counted_db.get(name, {}).get("values", {})
            if entry["series"] and not values:
                return None
            out[db][name] = {"series": entry["series"], "values": values}
    return out, source


def _taken(
    version: str,
    names: list[str],
    parts: dict[str, str],
    facts: dict[str, Any],
    at_start: dict[str, Any],
    *,
    raced: bool,
    counted: str = _FROM_SERVER_COUNT,
) -> Taken:
    position = {
        "databases": ",".join(names),
        "writes_raced": "yes" if raced else "no",
        "counted": counted,
    }
    if parts:
        position["parts"] = json.dumps(parts, sort_keys=True)
    return Taken(
        store_version=version,
        position=position,
        facts={"databases": facts, "databases_at_start": at_start},
    )


class InfluxDBDriver(BackupDriver):
    kind: ClassVar[str] = "influxdb"
    modes: ClassVar[tuple[str, ...]] = ("portable",)
    chooses: ClassVar[str] = "database"

    def _http(self, store: Store) -> _Http:
        return _Http(store.where.address, store.where.port, store.where.instance)

    def backup(self, store: Store, mode: str, sink: Sink, run: RunControl) -> Taken:
        with self._http(store) as http:
            return self._backup(store, sink, run, http)

    def _backup(self, store: Store, sink: Sink, run: RunControl, http: _Http) -> Taken:
        version = http.ping()
        held = http.databases()
        where = f"InfluxDB {store.where.instance}"
        if not held:
            raise BackupError(f"{where} holds no database to back up (`_internal` is not)")
        names = pick(held, self.only, "database", where)
        rpc = _rpc(store.where.address, store.options.rpc_port)
        # InfluxDB has no snapshot to read facts in. When no point is written meanwhile
        # (the shards' write counters equal before and after, none in flight before),
        # the server's series counts read while the tool runs are those it backed up,
        # and the values per field are counted from the backup's own TSM files while
        # they are stored (`_influx_tsm`; the server's shards must all be in it). When
        # the files cannot be counted exactly (deleted points), the server counts them
        # (`COUNT(*)`, a scan of every point). When points are written meanwhile (or
        # the previous backup saw writes), the facts are read before the tool (a lower
        # bound) and after it (an upper bound), and verify checks each count lies
        # between the two.
        previous = sink.previous.position if sink.previous is not None else {}
        raced = previous.get("writes_raced") == "yes"
        with (
            tempfile.TemporaryDirectory(prefix="lf-influx-", dir=run.temp_dir) as tmp,
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="influx-facts") as pool,
        ):
            if not raced:
                quiet = self._quiet_backup(store, sink, run, http, names, Path(tmp), pool)
                if quiet is not None:
                    taken, facts, counted = quiet
                    return _taken(
                        version, names, taken[1], facts, facts, raced=False, counted=counted
                    )
            writes = http.writes(names)
            at_start = http.facts(names)
            folders, parts, _tries = self._tools(
                store, (rpc, sink), names, Path(tmp) / "between", run
            )

            def facts_after() -> tuple[dict[str, Any], bool]:
                if _quiet(writes, http.writes(names)):
                    return at_start, False
                return http.facts(names), True

            after = pool.submit(facts_after)
            for folder, prefix, stored in folders:
                _put_files(sink, folder, prefix, stored)
            facts, raced = after.result()
        return _taken(version, names, parts, facts, at_start, raced=raced)

    def _quiet_backup(  # noqa: PLR0917
        self,
        store: Store,
        sink: Sink,
        run: RunControl,
        http: _Http,
        names: list[str],
        tmp: Path,
        pool: ThreadPoolExecutor,
    ) -> tuple[tuple[list[tuple[Path, str]], dict[str, str]], dict[str, Any], str] | None:
        """The backup and its exact facts when no point is written while the tool runs;
        None (nothing stored) when some were."""
        rpc = _rpc(store.where.address, store.options.rpc_port)
        writes = http.writes(names)
        deleted = _has_tombstones(store, names)
        census = pool.submit(
            lambda: (http.facts(names) if deleted else http.census(names), http.shards(names))
        )
        tool_done = threading.Event()
        early = None
        if not deleted:  # the server's files, counted while the tool still gzips
            early = pool.submit(_count_early, census, store.where.data_dir / "data", tmp, tool_done)
        try:
            folders, parts, tries = self._tools(store, (rpc, sink), names, tmp / "together", run)
        finally:
            tool_done.set()
        known, shards = census.result()
        if not _quiet(writes, http.writes(names)):
            for following in tries:
                following.discard()
            shutil.rmtree(tmp / "together")
            return None
        counting = None
        if not deleted:
            data = store.where.data_dir / "data"
            server = _Server(
                known,
                shards,
                data,
                lambda: _quiet(writes, http.writes(names)),
                early.result if early is not None else None,
            )
            counting = pool.submit(
                _counted, [(f, p) for f, p, _s in folders], names, server, (tmp, run)
            )
        for folder, prefix, stored in folders:
            _put_files(sink, folder, prefix, stored)
        found = counting.result() if counting is not None else (known, _FROM_SERVER_COUNT)
        if found is None:  # not countable from the files after all: the server counts
            found = (http.facts(names), _FROM_SERVER_COUNT)
            if not _quiet(writes, http.writes(names)):
                raise BackupError(
                    "points were written while this backup's facts were read, and its "
                    "files cannot be counted exactly (deleted or overwritten points)",
                    hint="run the backup again (it then reads the facts before and after)",
                )
        return ([(f, p) for f, p, _s in folders], parts), *found

    def _tools(
        self, store: Store, to: tuple[str, Sink], names: list[str], into: Path, run: RunControl
    ) -> tuple[list[tuple[Path, str, set[str]]], dict[str, str], list[Following]]:
        """`influxd backup` of everything, or of each chosen database, into `to`'s RPC
        address, its shards stored in `to`'s sink as the tool writes them: the folders
        it wrote with the prefix of their objects and the files stored already, the
        parts' databases, and what stored them (to discard the lot)."""
        rpc, sink = to
        tool = [_binary(store), "backup", "-portable", "-host", rpc]
        jobs = [(into, "", [*tool, str(into)], "influxd backup")]
        parts: dict[str, str] = {}
        if self.only:
            jobs = []
            for i, db in enumerate(names):
                part = f"part{i}"
                parts[part] = db
                argv = [*tool, "-db", db, str(into / part)]
                jobs.append((into / part, part + "~", argv, f"influxd backup of {db}"))
        folders: list[tuple[Path, str, set[str]]] = []
        tries: list[Following] = []
        for folder, prefix, argv, what in jobs:
            # Each shard's `.tar.gz` is stored while the tool gzips it (most of its run),
            # complete once the tool exited 0 and its size is what was read.
            with Following(sink, folder, prefix, "*.tar.gz", compress=False) as following:
                tries.append(following)
                _run_tool(run, argv, what)
            folders.append((folder, prefix, set(following.finish())))
        return folders, parts, tries

    def _chosen(self, manifest: Manifest) -> list[str]:
        held = list(manifest.facts.get("databases", {}))
        return pick(held, self.only, "database", f"backup {manifest.id}")

    def position_summary(self, position: Mapping[str, str]) -> str:
        return f"databases {position['databases']}" if position.get("databases") else ""

    def replaces(self, store: Store, manifest: Manifest, to: datetime | None) -> list[str]:
        names = self._chosen(manifest)
        return [
            f"replaces databases {', '.join(names) or '(none)'} on {store.where.instance}: "
            "each is dropped and restored as the backup holds it",
            f"from backup {manifest.id} ({manifest.ended:%Y-%m-%d %H:%M:%S} UTC); points "
            "written since are lost; the server must be running",
        ]

    def checks_as_it_restores(self, manifest: Manifest) -> bool:
        return True  # every object is read (and checked) into a scratch folder first

    def restore(
        self, store: Store, source: Source, storage: Storage, to: datetime | None, run: RunControl
    ) -> str:
        if to is not None:
            raise BackupError("InfluxDB backups restore as they were; --to is not supported")
        names = self._chosen(source.manifest)
        rpc = _rpc(store.where.address, store.options.rpc_port)
        with (
            self._http(store) as http,
            tempfile.TemporaryDirectory(prefix="lf-influx-", dir=run.temp_dir) as tmp,
        ):
            http.ping()
            folder = Path(tmp)
            _extract_all(source, folder, run)
            for db in names:
                _restore(store, run, folder, (rpc, http), db)
        restored = ", ".join(names)
        return f"databases {restored} restored on {store.where.instance} from {source.manifest.id}"

    def verify(
        self, store: Store, source: Source, storage: Storage, scratch: Path, run: RunControl
    ) -> Verified:
        expected: dict[str, Any] = source.manifest.facts.get("databases", {})
        files = scratch / "files"
        files.mkdir()
        _extract_all(source, files, run)
        address = store.local_address
        ports = {"port": free_port(address), "rpc_port": free_port(address)}
        with scratch_instance(store, scratch / "server", run, ports) as (options, where):
            rpc = _rpc(where.address, options.rpc_port)
            with _Http(where.address, where.port, where.instance) as http:
                for db in sorted(expected):
                    _restore(store, run, files, (rpc, http), db)
                found = http.facts_when_ready(sorted(expected), run)
        differences = _diff(expected, found, source.manifest.facts.get("databases_at_start"))
        if differences:
            return Verified(False, "restored copy differs: " + "; ".join(differences[:10]), found)
        count = sum(len(m) for m in found.values())
        return Verified(
            True,
            f"restored into a scratch server: {len(found)} databases, {count} measurements "
            "match the manifest (series and values per field)",
            found,
        )


def _diff(
    expected: dict[str, Any], found: dict[str, Any], at_start: dict[str, Any] | None = None
) -> list[str]:
    """What `found` gets wrong: equal to `expected` (the facts after the backup), or, when
    the facts before it are known, each count between those before and those after."""
    out = []
    for db in sorted(set(expected) | set(found)):
        want, got = expected.get(db), found.get(db)
        if want is None or got is None:
            out.append(f"database {db} {'missing' if got is None else 'unexpected'}")
            continue
        low = (at_start or {}).get(db) if at_start is not None else want
        for name in sorted(set(want) | set(got)):
            if not _within(
                _counts((low or {}).get(name)), _counts(got.get(name)), _counts(want.get(name))
            ):
                out.append(f"{db}.{name}: expected {want.get(name)}, found {got.get(name)}")
    return out


def _counts(measurement: Any) -> dict[str, int]:
    if not isinstance(measurement, dict):
        return {}
    values = measurement.get("values") or {}
    return {"series": int(measurement.get("series", 0))} | {k: int(v) for k, v in values.items()}


def _within(low: dict[str, int], got: dict[str, int], high: dict[str, int]) -> bool:
    if set(got) - set(high):
        return False
    return all(low.get(k, 0) <= got.get(k, 0) <= high[k] for k in high)
