"""The OpenSearch driver.

`snapshot` (the one mode): a snapshot of every open user index (system and hidden
indices, whose names start with a dot, and the cluster's global state are left out)
into an `fs` repository `leapfrog-backup` under the node's `path.repo`
(`<data dir>/snapshots/`). OpenSearch's snapshots are incremental: segment files the
previous snapshot already holds are not copied again. After the snapshot the older
snapshots are deleted from that repository (OpenSearch keeps the files the new one still
uses), so the repository holds exactly what the newest snapshot needs, and that is
stored: its data blobs (`indices/<uuid>/<shard>/__<uuid>`, written once under a name
OpenSearch never gives other bytes) one shared object each, the rest (snapshot and
index metadata, small) one object `metadata.tar`. The backup is incremental too: a blob
the previous backup stored already is referred to, not read or stored again
(`Sink.reuse`); every backup's manifest still lists every object it needs, so each one
restores on its own and pruning keeps what a kept backup refers to. The manifest's
position names the snapshot and counts the files OpenSearch wrote anew (`new_files`)
against those the snapshot uses (`files`), and the files stored against those reused.

Facts: per index, the document count and a hash of the ids, read (after a refresh) in
a thread while the snapshot is taken and the repository stored; a write racing the
snapshot can make verify report a difference. An index the snapshot copied no file of (its
Lucene commit is the previous snapshot's) keeps the previous backup's facts, when the
repository held exactly that backup's snapshot (`reused_facts` names them).

A backup may be limited to chosen indices (`--index`, names or patterns such as
`logs-*`). Restore (node running): the objects are unpacked into a read-only repository
`leapfrog-restore`, the chosen indices (all of the backup's by default, `--index`)
are deleted and restored from it. Verify does not start a scratch node (a second JVM
of 400 MB and half a minute on a small machine): it restores the snapshot into renamed
indices (`leapfrog-verify-<random>-<name>`) on the same node, compares them with the
manifest and deletes them.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import secrets
import shutil
import tarfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, ClassVar, cast

import httpx

from leapfrog.backup._http import plain_client
from leapfrog.backup._objects import ReadableChunks, shared_name
from leapfrog.backup._os_facts import (
    FactsStopped,
    checked,
    diff_indices,
    index_facts,
    user_indices,
)
from leapfrog.backup._pg_scratch import chown_tree
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

__all__ = ["OpenSearchDriver"]

REPOSITORY = "leapfrog-backup"
_RESTORE_REPOSITORY = "leapfrog-restore"
_OBJECT = "repository.tar"
"""The whole repository as one object (backups before blobs were objects of their own)."""
_METADATA = "metadata.tar"
_CHUNK = 1 << 20
_PUTS = 2
"""Repository blobs stored at once."""
_POLL = 0.1  # a snapshot of a few MB takes a few tenths: a long poll would double it


def _repo_dir(store: Store, name: str) -> Path:
    return store.where.data_dir / "snapshots" / name


def _client(store: Store) -> httpx.Client:
    where = store.where
    return plain_client(f"http://{where.address}:{where.port}", httpx.Timeout(60.0))


def _version(store: Store, client: httpx.Client) -> str:
    try:
        about = checked(client.get("/"), "node info")
    except httpx.TransportError as exc:
        raise BackupError(
            f"OpenSearch {store.where.instance} is not answering at {client.base_url}: "
            f"{exc or type(exc).__name__}",
            hint="start it (`leapfrog up`) and run the backup again",
        ) from exc
    return str(about.get("version", {}).get("number", "?"))


def _register(client: httpx.Client, name: str, location: Path, *, readonly: bool) -> None:
    body = {"type": "fs", "settings": {"location": str(location), "readonly": readonly}}
    checked(client.put(f"/_snapshot/{name}", json=body), f"repository {name}")


def _waited(  # noqa: PLR0917
    client: httpx.Client,
    method: str,
    url: str,
    body: dict[str, Any],
    run: RunControl,
    progress: tuple[str, Callable[[], int | None]],
) -> httpx.Response:
    """`url` called with `wait_for_completion` (OpenSearch answers the moment the work is
    done) in a thread, while this one reports `progress` (a label, and bytes so far or
    None while there is nothing to read) whenever the bytes change."""
    label, measure = progress
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="os-wait") as pool:
        call = pool.submit(
            client.request,
            method,
            url,
            params={"wait_for_completion": "true"},
            json=body,
            timeout=httpx.Timeout(60.0, read=None),
        )
        done: int | None = -1
        while True:
            try:
                return call.result(timeout=_POLL)
            except FuturesTimeout:
                pass
            run.check()
            now = measure()
            if now is not None and now != done:
                done = now
                run.progressed(label)


def _snapshot(client: httpx.Client, name: str, indices: list[str], run: RunControl) -> Any:
    """Take the snapshot and wait for it, the bytes processed reported as progress; its
    `_status` entry."""
    body = {"indices": ",".join(indices), "include_global_state": False}
    url = f"/_snapshot/{REPOSITORY}/{name}"

    def processed() -> int | None:
        status = client.get(f"{url}/_status")
        if status.status_code != httpx.codes.OK:
            return None
        entries = status.json().get("snapshots") or [{}]
        size: int = entries[0].get("stats", {}).get("processed", {}).get("size_in_bytes", 0)
        return size

    response = _waited(client, "PUT", url, body, run, (f"snapshot {name}", processed))
    answer = checked(response, f"snapshot {name}")
    state = answer.get("snapshot", {}).get("state")
    if state != "SUCCESS":
        raise BackupError(f"OpenSearch snapshot {name} ended {state}")
    run.progressed(f"snapshot {name}")
    return checked(client.get(f"{url}/_status"), "status")["snapshots"][0]


def _held(client: httpx.Client) -> list[str]:
    """The snapshots in leapfrog's repository."""
    listed = checked(client.get(f"/_snapshot/{REPOSITORY}/_all"), "snapshots")
    return [str(s["snapshot"]) for s in listed.get("snapshots", [])]


def _drop_older(client: httpx.Client, older: list[str]) -> None:
    """The snapshots `older` (held before the new one was taken: the repository is
    leapfrog's own and one run at a time writes to it)."""
    for snapshot in older:
        checked(
            client.delete(f"/_snapshot/{REPOSITORY}/{snapshot}"), f"deleting snapshot {snapshot}"
        )


def _restore_call(  # noqa: PLR0917
    client: httpx.Client,
    repository: str,
    snapshot: str,
    body: dict[str, Any],
    restored: list[str],
    run: RunControl,
) -> None:
    """The restore, waited for by OpenSearch itself, the recovered bytes reported as
    progress."""
    url = f"/_snapshot/{repository}/{snapshot}/_restore"

    def recovered() -> int | None:
        recovery = client.get(f"/{','.join(restored)}/_recovery")
        if recovery.status_code != httpx.codes.OK:
            return None  # the indices are not created yet
        total: int = sum(
            shard.get("index", {}).get("size", {}).get("recovered_in_bytes", 0)
            for index in recovery.json().values()
            for shard in index.get("shards", [])
        )
        return total

    response = _waited(client, "POST", url, body, run, ("restoring indices", recovered))
    shards = checked(response, f"restore of {snapshot}").get("snapshot", {}).get("shards", {})
    if shards.get("failed", 0) or not shards.get("successful"):
        raise BackupError(
            f"OpenSearch restored {shards.get('successful', 0)} of {shards.get('total', '?')} "
            f"shards of {snapshot}; see the node's log (`leapfrog logs`)"
        )


def _known_facts(held: list[str], previous: Manifest | None) -> dict[str, Any]:
    """The previous backup's facts per index, when the repository holds exactly that
    backup's snapshot (`held`; so an index the new snapshot copies no file of is
    unchanged since those facts); else none."""
    if previous is None or not previous.position.get("snapshot"):
        return {}
    if held != [previous.position["snapshot"]]:
        return {}
    return dict(previous.facts.get("indices", {}))


class _Facts:
    """Per index [count, id hash], read by a scroll in a thread of its own (its own HTTP
    client) from the moment the snapshot starts. Once the snapshot is done (`decide`),
    an index it copied no file of keeps the previous backup's facts (its Lucene commit
    is the one of the previous snapshot, which those facts describe): its scroll is
    skipped, or stopped at the next page. The indices the previous backup has facts of
    are read last, and only once the snapshot is done: an index unchanged since is then
    never scrolled (while the snapshot runs, the scroll would take the node's CPU)."""

    def __init__(
        self, store: Store, indices: list[str], known: dict[str, Any], run: RunControl
    ) -> None:
        self._indices = indices
        self._known = known
        self._run = run
        self._reused: set[str] | None = None
        self._decided = threading.Event()
        self._read: dict[str, Any] = {}
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="os-facts")
        self._work = self._pool.submit(self._scan, store)

    def _skipped(self, index: str) -> bool:
        reused = self._reused
        return reused is not None and index in reused

    def _scan(self, store: Store) -> None:
        fresh = [i for i in self._indices if i not in self._known]
        with _client(store) as client:
            for index in fresh + [i for i in self._indices if i in self._known]:
                if index in self._known:
                    self._decided.wait()
                if self._skipped(index):
                    continue
                try:
                    self._read[index] = index_facts(
                        client, index, self._run, functools.partial(self._skipped, index)
                    )
                except FactsStopped:
                    continue

    def decide(self, entry: Any) -> None:
        """The snapshot's `_status` entry: which indices keep the previous facts."""
        reused = set()
        for index in self._indices:
            stats = entry.get("indices", {}).get(index, {}).get("stats", {})
            if index in self._known and stats.get("incremental", {}).get("file_count") == 0:
                reused.add(index)
        self._reused = reused
        self._decided.set()

    def result(self) -> tuple[dict[str, Any], list[str]]:
        """(facts, the indices whose facts are the previous backup's)."""
        self._work.result()
        reused = self._reused or set()
        facts = {i: self._known[i] if i in reused else self._read[i] for i in self._indices}
        return facts, sorted(reused)

    def abandon(self) -> None:
        self._reused = set(self._indices)  # every scroll stops at its next page
        self._decided.set()
        self._pool.shutdown(wait=True, cancel_futures=True)


def _blob_name(relative: str) -> str | None:
    """The object name of a repository data blob (`indices/<uuid>/<shard>/__<uuid>`,
    written once under a name never reused), or None for any other file."""
    parts = relative.split("/")
    if not parts[-1].startswith("__") or any("~" in p or p in ("", ".", "..") for p in parts):
        return None
    return "~".join(parts)


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as data:
        while chunk := data.read(_CHUNK):
            yield chunk


def _put_repository(sink: Sink, repo: Path) -> tuple[int, int]:
    """The repository as objects: its data blobs one shared object each (reused from the
    previous backup when it holds the blob already: OpenSearch never rewrites one), the
    rest (snapshot and index metadata, small) one object `metadata.tar`. (files, reused)"""
    blobs: list[tuple[str, Path]] = []
    metadata = io.BytesIO()
    with tarfile.open(fileobj=metadata, mode="w") as tar:
        for path in sorted(repo.rglob("*")):
            if not path.is_file():
                continue
            relative = path.relative_to(repo).as_posix()
            if (blob := _blob_name(relative)) is not None:
                blobs.append((blob, path))
            else:
                tar.add(path, arcname=relative)
    sink.put(_METADATA, [metadata.getvalue()])
    new = [(b, p) for b, p in blobs if sink.reuse(b, p.stat().st_size) is None]
    # Two at a time: compressing, hashing and writing release the GIL, and the node is
    # idle once its snapshot is done.
    pool = ThreadPoolExecutor(max_workers=_PUTS, thread_name_prefix="os-put")
    try:
        for done in [pool.submit(sink.put, b, _file_chunks(p), True) for b, p in new]:
            done.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # a failure stops the others
    return len(blobs) + 1, len(blobs) - len(new)


def _untar(source: Source, name: str, repo: Path, run: RunControl) -> None:
    with tarfile.open(fileobj=cast(IO[bytes], ReadableChunks(source.open(name))), mode="r|") as tar:
        for member in tar:
            # From our own storage and sha256-checked; still, nothing may leave the
            # repository (tarfile's extraction filters need Python 3.11.4).
            if member.name.startswith("/") or ".." in Path(member.name).parts:
                raise BackupError(f"{name} holds an unsafe path {member.name!r}")
            if not (member.isfile() or member.isdir()):
                raise BackupError(f"{name} holds a link or device {member.name!r}")
            run.progressed("unpacking the repository")
            tar.extract(member, repo)


def _extract_blob(source: Source, blob: str, repo: Path) -> None:
    relative = blob.replace("~", "/")
    if _blob_name(relative) != blob:
        raise BackupError(f"object {blob} is not a repository blob")
    target = repo / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    source.extract(blob, target)


class OpenSearchDriver(BackupDriver):
    kind: ClassVar[str] = "opensearch"
    modes: ClassVar[tuple[str, ...]] = ("snapshot",)
    chooses: ClassVar[str] = "index"

    def __init__(self, indices: Sequence[str] = ()) -> None:
        self.only = tuple(indices)

    # -- backup -------------------------------------------------------------------
    def backup(self, store: Store, mode: str, sink: Sink, run: RunControl) -> Taken:
        repo = _repo_dir(store, REPOSITORY)
        with _client(store) as client:
            version = _version(store, client)
            indices = user_indices(client)
            if not indices:
                raise BackupError(
                    f"OpenSearch {store.where.instance} holds no index to back up "
                    "(indices starting with a dot are not backed up)"
                )
            indices = pick(indices, self.only, "index", f"OpenSearch {store.where.instance}")
            _register(client, REPOSITORY, store.as_server_sees(repo), readonly=False)
            held = _held(client)
            known = _known_facts(held, sink.previous)
            name = f"lf-{datetime.now(UTC):%Y%m%dt%H%M%S}-{secrets.token_hex(3)}"
            # The facts are read while the snapshot is taken and the files are stored.
            reading = _Facts(store, indices, known, run)
            try:
                entry = _snapshot(client, name, indices, run)
                reading.decide(entry)
                _drop_older(client, held)
                files, reused = _put_repository(sink, repo)
                facts, facts_reused = reading.result()
            finally:
                reading.abandon()
        stats = entry.get("stats", {})
        return Taken(
            store_version=version,
            position={
                "snapshot": name,
                "files": str(stats.get("total", {}).get("file_count", "?")),
                "new_files": str(stats.get("incremental", {}).get("file_count", "?")),
                "new_bytes": str(stats.get("incremental", {}).get("size_in_bytes", "?")),
                "stored_files": str(files - reused),
                "reused_files": str(reused),
                "reused_facts": ",".join(facts_reused),
            },
            facts={"indices": facts},
        )

    # -- restore and verify -------------------------------------------------------
    def _chosen(self, manifest: Manifest) -> list[str]:
        held = sorted(manifest.facts.get("indices", {}))
        return pick(held, self.only, "index", f"backup {manifest.id}")

    def position_summary(self, position: Mapping[str, str]) -> str:
        if not position.get("snapshot"):
            return ""
        return (
            f"snapshot {position['snapshot']} ({position.get('files', '?')} files, "
            f"{position.get('new_files', '?')} new)"
        )

    def replaces(self, store: Store, manifest: Manifest, to: datetime | None) -> list[str]:
        return [
            f"replaces the indices {', '.join(self._chosen(manifest))} on "
            f"{store.where.instance}: each is deleted, then restored",
            f"from snapshot {manifest.position.get('snapshot', '?')} of backup {manifest.id} "
            f"({manifest.ended:%Y-%m-%d %H:%M:%S} UTC); other indices are left alone",
        ]

    def _unpacked(self, store: Store, source: Source, name: str, run: RunControl) -> Path:
        repo = _repo_dir(store, name)
        shutil.rmtree(repo, ignore_errors=True)
        repo.mkdir(parents=True)
        objects = source.manifest.objects
        whole = any(e.name.removesuffix(".zst") == _OBJECT for e in objects)
        _untar(source, _OBJECT if whole else _METADATA, repo, run)
        blobs = [shared_name(e) for e in objects if e.shared]
        # Two at a time: reading, sha256 and zstd release the GIL.
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="os-unpack") as pool:
            for done in [pool.submit(_extract_blob, source, blob, repo) for blob in blobs]:
                done.result()
                run.progressed("unpacking the repository")
        chown_tree(repo, store.where.run_as)
        if store.where.run_as is not None:  # made by mkdir above when the data was wiped
            os.chown(repo.parent, *store.where.run_as)
        return repo

    def _restore_from(  # noqa: PLR0917
        self,
        store: Store,
        source: Source,
        indices: list[str],
        run: RunControl,
        repository: str,
        rename_to: str | None = None,
    ) -> None:
        snapshot = source.manifest.position["snapshot"]
        with _client(store) as client:
            _version(store, client)
            repo = self._unpacked(store, source, repository, run)
            try:
                _register(client, repository, store.as_server_sees(repo), readonly=True)
                body: dict[str, Any] = {"indices": ",".join(indices), "include_global_state": False}
                if rename_to is None:
                    for index in indices:
                        response = client.delete(f"/{index}")
                        if response.status_code != httpx.codes.NOT_FOUND:
                            checked(response, f"deleting {index}")
                else:
                    body |= {"rename_pattern": "(.+)", "rename_replacement": rename_to + "$1"}
                restored = [(rename_to or "") + index for index in indices]
                _restore_call(client, repository, snapshot, body, restored, run)
            finally:
                client.delete(f"/_snapshot/{repository}")
                shutil.rmtree(repo, ignore_errors=True)

    def checks_as_it_restores(self, manifest: Manifest) -> bool:
        return True  # every object is read (and checked) into a scratch folder first

    def restore(
        self, store: Store, source: Source, storage: Storage, to: datetime | None, run: RunControl
    ) -> str:
        if to is not None:
            raise BackupError("an OpenSearch snapshot restores as it was; --to is not supported")
        indices = self._chosen(source.manifest)
        self._restore_from(store, source, indices, run, _RESTORE_REPOSITORY)
        return f"{store.where.instance}: restored {', '.join(indices)} from {source.manifest.id}"

    def verify(
        self, store: Store, source: Source, storage: Storage, scratch: Path, run: RunControl
    ) -> Verified:
        expected: dict[str, Any] = source.manifest.facts.get("indices", {})
        token = secrets.token_hex(3)
        prefix = f"leapfrog-verify-{token}-"
        indices = sorted(expected)
        try:
            self._restore_from(store, source, indices, run, f"leapfrog-verify-{token}", prefix)
            with _client(store) as client:
                found = {i: index_facts(client, prefix + i, run) for i in indices}
        finally:
            with _client(store) as client, contextlib.suppress(httpx.HTTPError):
                client.delete(f"/{prefix}*")
        differences = diff_indices(expected, found)
        if differences:
            return Verified(False, "restored copy differs: " + "; ".join(differences[:10]), found)
        documents = sum(f[0] for f in found.values())
        return Verified(
            True,
            f"restored into renamed indices on the same node: {len(found)} indices, "
            f"{documents} documents match the manifest (counts and id hashes)",
            {"indices": found},
        )
