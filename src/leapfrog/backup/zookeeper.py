"""The ZooKeeper 3.9 driver.

`snapshot` (the one mode): the AdminServer's `/commands/snapshot?streaming=true`
(enabled by the component's zoo.cfg) streams a snapshot the server takes on the spot,
serialized with its last processed zxid, as objects `snapshot.000`, `snapshot.001`, ...
of 16 MiB each (so each is read back while the next is written; restore joins them).
The command needs an authenticated caller: the driver sends a digest identity (any
digest identity is authorized while `/`'s ACL lets everyone in, ZooKeeper's default).
ZooKeeper allows one snapshot per `snapshot_interval_ms` of the component (ZooKeeper's
`admin.rateLimiterIntervalInMS`); a refused run fails saying so, and the limit is in
the manifest.

Facts: every persistent znode's path and data hash, read from the snapshot's own bytes
as they stream (`_zk_snapshot.py` reads ZooKeeper's snapshot format in a thread of its
own, beside the objects' compression and writing, and checks its
checksum), so they describe exactly what was backed up.

Restore (instance stopped): the snapshot file is extracted beside the data (every
object's sha256 checked), then the data directory's `version-2/` is moved aside and
replaced by it; a scratch server on that directory then deletes the
ephemeral nodes (their sessions are gone), so the instance starts without them.
Verify restores into a scratch server and compares the znode tree with the facts.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import secrets
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any, ClassVar

import httpx
from kazoo.exceptions import NoNodeError  # type: ignore[import-untyped]

from leapfrog.backup._http import plain_client
from leapfrog.backup._pg_scratch import chown_tree
from leapfrog.backup._zk_scratch import scratch_zookeeper
from leapfrog.backup._zk_snapshot import ThreadedReader
from leapfrog.backup._zk_tree import diff_trees, server_tree, summary
from leapfrog.backup.control import RunControl
from leapfrog.backup.driver import BackupDriver, BackupError, Sink, Source, Store, Taken, Verified
from leapfrog.backup.manifest import Manifest
from leapfrog.backup.storage import Storage
from leapfrog.components.zookeeper import DATA

__all__ = ["ZooKeeperDriver"]

_CHUNK = 1 << 20
_PART = 16
"""Chunks (MiB) per object of the snapshot."""
_SNAPSHOTS = "version-2"


def _admin_url(store: Store) -> str:
    return f"http://{store.where.address}:{store.options.admin_port}/commands"


def _error_of(body: bytes) -> str:
    text = body.decode(errors="replace")
    try:
        return str(json.loads(text).get("error") or text[:200])
    except (ValueError, AttributeError):
        return text[:200] or "no body"


@contextlib.contextmanager
def _snapshot_stream(store: Store) -> Iterator[tuple[Iterator[bytes], str]]:
    """One streaming GET of the snapshot command: (its body in chunks of `_CHUNK`, the
    last zxid). Read with `http.client`, each chunk straight from the socket (httpx's
    chunking of a 65 MB body took about four times its CPU)."""
    auth = f"digest leapfrog-backup:{secrets.token_hex(8)}"
    where = f"{_admin_url(store)}/snapshot"
    conn = http.client.HTTPConnection(store.where.address, store.options.admin_port, timeout=300)
    try:
        try:
            conn.request(
                "GET",
                "/commands/snapshot?streaming=true",
                headers={"Authorization": auth, "Accept-Encoding": "identity"},
            )
            response = conn.getresponse()
        except OSError as exc:
            raise BackupError(
                f"ZooKeeper {store.where.instance} is not answering on its AdminServer "
                f"{_admin_url(store)}: {exc or type(exc).__name__}",
                hint="start it (`leapfrog up`) and run the backup again",
            ) from exc
        if response.status != HTTPStatus.OK:
            body = response.read()
            limit = store.options.snapshot_interval_ms / 1000
            if response.status == HTTPStatus.TOO_MANY_REQUESTS:
                raise BackupError(
                    f"ZooKeeper refused the snapshot (HTTP 429): it allows one every "
                    f"{limit:g}s (the component's snapshot_interval_ms)",
                    hint="run it again later, or lower `snapshot_interval_ms` of "
                    f"{store.name} and `leapfrog up`",
                )
            raise BackupError(
                f"ZooKeeper's snapshot command failed (HTTP {response.status}): {_error_of(body)}"
            )
        if response.getheader("Content-Encoding", "identity") != "identity":
            raise BackupError(f"{where} answered {response.getheader('Content-Encoding')}")

        def chunks() -> Iterator[bytes]:
            try:
                while chunk := response.read(_CHUNK):
                    yield chunk
            except (OSError, http.client.HTTPException) as exc:
                raise BackupError(f"the snapshot stream from {where} broke: {exc}") from exc

        yield chunks(), response.getheader("last_zxid", "")
    finally:
        conn.close()


def _version(store: Store) -> str:
    try:
        with plain_client(timeout=10.0) as client:
            answer = client.get(f"{_admin_url(store)}/srvr").json()
    except (httpx.HTTPError, ValueError) as exc:
        raise BackupError(
            f"ZooKeeper {store.where.instance} is not answering on its AdminServer "
            f"{_admin_url(store)}: {exc or type(exc).__name__}",
            hint="start it (`leapfrog up`) and run the backup again",
        ) from exc
    return str(answer.get("version", "?")).split("-")[0]


def _parts(source: Source) -> list[str]:
    """The snapshot's objects in order: `snapshot.000`, `snapshot.001`, ... (one object
    `snapshot` in backups made before it was cut into parts)."""
    names = [
        e.name.removesuffix(".zst") if e.compression == "zstd" else e.name
        for e in source.manifest.objects
    ]
    return [n for n in names if n == "snapshot" or n.startswith("snapshot.")]


def _place_snapshot(source: Source, data_dir: Path, zxid: str, folder: str = _SNAPSHOTS) -> None:
    snapshots = data_dir / folder
    snapshots.mkdir(parents=True)
    with (snapshots / f"snapshot.{zxid}").open("wb") as out:
        for part in _parts(source):
            for chunk in source.open(part):
                out.write(chunk)


def _drop_ephemerals(client: Any, known: list[str] | None) -> int:
    """Delete the snapshot's ephemeral nodes (their sessions are gone): those the
    manifest lists, or, for an older manifest, those a walk of the tree finds."""
    ephemeral = known if known is not None else server_tree(client)[1]
    dropped = 0
    for path in ephemeral:
        with contextlib.suppress(NoNodeError):
            client.delete(path)
            dropped += 1
    return dropped


class ZooKeeperDriver(BackupDriver):
    kind: ClassVar[str] = "zookeeper"
    modes: ClassVar[tuple[str, ...]] = ("snapshot",)

    def backup(self, store: Store, mode: str, sink: Sink, run: RunControl) -> Taken:
        # The version is asked while the server takes the snapshot (it streams nothing
        # until its snapshot file is written), not before.
        with ThreadPoolExecutor(1, thread_name_prefix="zk-version") as pool:
            asked = pool.submit(_version, store)
            taken = self._snapshot(store, sink, run)
            version = asked.result()
        zxid_hex = taken.position["zxid"].removeprefix("0x") or "0"
        return Taken(
            store_version=version,
            position={
                "zxid": f"0x{int(zxid_hex, 16):x}",
                "rate_limit_ms": str(store.options.snapshot_interval_ms),
            },
            facts=taken.facts,
        )

    def _snapshot(self, store: Store, sink: Sink, run: RunControl) -> Taken:
        """The snapshot into objects, its facts and its zxid (the version left empty)."""
        with ThreadedReader() as reader, _snapshot_stream(store) as (stream, zxid):
            pending = next(stream, None)

            def part(first: bytes) -> Iterator[bytes]:
                nonlocal pending
                chunk: bytes | None = first
                for _ in range(_PART):
                    assert chunk is not None
                    reader.feed(chunk)  # the facts come from these same bytes
                    yield chunk
                    chunk = next(stream, None)
                    if chunk is None:
                        break
                pending = chunk  # the next part's first chunk, or None: the end

            # Objects of `_PART` MiB: each is read back while the next is written.
            index = 0
            while pending is not None:
                sink.put(f"snapshot.{index:03d}", part(pending))
                index += 1
            run.progressed("snapshot streamed")
            facts = reader.facts()
        return Taken(store_version="", position={"zxid": zxid}, facts=facts)

    def replaces(self, store: Store, manifest: Manifest, to: datetime | None) -> list[str]:
        data = store.where.data_dir / DATA / _SNAPSHOTS
        return [
            f"replaces every snapshot and transaction log in {data} of {store.where.instance}",
            f"with snapshot {manifest.id} (zxid {manifest.position.get('zxid', '?')}, "
            f"{manifest.facts.get('znodes', '?')} znodes, taken "
            f"{manifest.ended:%Y-%m-%d %H:%M:%S} UTC); ephemeral nodes are not restored",
            f"{store.where.instance} must be stopped (`leapfrog down`); every change after "
            "the snapshot is lost",
        ]

    def checks_as_it_restores(self, manifest: Manifest) -> bool:
        return True  # every object is read (and checked) into a scratch folder first

    def restore(
        self, store: Store, source: Source, storage: Storage, to: datetime | None, run: RunControl
    ) -> str:
        if to is not None:
            raise BackupError("a ZooKeeper snapshot restores as it was; --to is not supported")
        if self._answers(store):
            raise BackupError(
                f"{store.where.instance} is running",
                hint="stop it first: `leapfrog down`, then restore, then `leapfrog up`",
            )
        data_dir = store.where.data_dir / DATA
        snapshots = data_dir / _SNAPSHOTS
        aside = data_dir / f"{_SNAPSHOTS}.before-restore"
        incoming = f"{_SNAPSHOTS}.restoring"
        shutil.rmtree(aside, ignore_errors=True)
        shutil.rmtree(data_dir / incoming, ignore_errors=True)
        # The snapshot is extracted (and its sha256 checked) beside the data first: a
        # corrupt object fails the run before anything of the instance is moved.
        zxid = source.manifest.position.get("zxid", "0x0").removeprefix("0x")
        try:
            _place_snapshot(source, data_dir, zxid, incoming)
        except BaseException:
            shutil.rmtree(data_dir / incoming, ignore_errors=True)
            raise
        if snapshots.exists():
            snapshots.rename(aside)
        try:
            (data_dir / incoming).rename(snapshots)
            chown_tree(data_dir, store.where.run_as)
            known = source.manifest.facts.get("ephemeral")
            dropped = 0
            if known != []:  # some, or a manifest from before they were listed
                with scratch_zookeeper(store.installation, data_dir, store.where.run_as, run) as zk:
                    dropped = _drop_ephemerals(zk, known)
        except BaseException:
            shutil.rmtree(snapshots, ignore_errors=True)
            if aside.exists():
                aside.rename(snapshots)
            raise
        shutil.rmtree(aside, ignore_errors=True)
        return (
            f"{store.where.instance} restored from {source.manifest.id}: "
            f"{source.manifest.facts.get('znodes', '?')} znodes, "
            f"{dropped} ephemeral nodes dropped"
        )

    def verify(
        self, store: Store, source: Source, storage: Storage, scratch: Path, run: RunControl
    ) -> Verified:
        manifest = source.manifest
        data_dir = scratch / "zk-data"
        zxid = manifest.position.get("zxid", "0x0").removeprefix("0x")
        _place_snapshot(source, data_dir, zxid)
        chown_tree(data_dir, store.where.run_as)
        with scratch_zookeeper(store.installation, data_dir, store.where.run_as, run) as zk:
            found, _ = server_tree(zk)
        expected: dict[str, str] = manifest.facts.get("data", {})
        found_summary = summary(found)
        differences = diff_trees(expected, found)
        if differences or found_summary["tree_sha256"] != manifest.facts.get("tree_sha256"):
            detail = "; ".join(differences[:10]) or "the tree hash differs"
            return Verified(False, f"restored copy differs: {detail}", found_summary)
        return Verified(
            True,
            f"restored into a scratch server: {len(found)} znodes match the manifest "
            "(paths and data hashes)",
            {k: v for k, v in found_summary.items() if k != "data"},
        )

    def _answers(self, store: Store) -> bool:
        try:
            with plain_client(timeout=3.0) as client:
                client.get(f"{_admin_url(store)}/ruok")
        except httpx.TransportError:
            return False
        return True
