"""The OpenSearch driver.

`snapshot` (the one mode): a snapshot of every open user index (system and hidden
indices, whose names start with a dot, and the cluster's global state are left out)
into an `fs` repository `leapfrog-backup` under the node's `path.repo`
(`<data dir>/snapshots/`). OpenSearch's snapshots are incremental: segment files the
previous snapshot already holds are not copied again. After the snapshot the older
snapshots are deleted from that repository (OpenSearch keeps the files the new one still
uses), so the repository holds exactly what the newest snapshot needs, and that is
streamed into the storage as one object `repository.tar`: every backup is whole on its
own. The manifest's position names the snapshot and counts the files OpenSearch wrote
anew (`new_files`) against those the snapshot uses (`files`).

Facts: per index, the document count and a hash of the ids, read (after a refresh) just
before the snapshot; a write racing the snapshot can make verify report a difference.

A backup may be limited to chosen indices (`--index`, names or patterns such as
`logs-*`). Restore (node running): the object is unpacked into a read-only repository
`leapfrog-restore`, the chosen indices (all of the backup's by default, `--index`)
are deleted and restored from it. Verify does not start a scratch node (a second JVM
of 400 MB and half a minute on a small machine): it restores the snapshot into renamed
indices (`leapfrog-verify-<random>-<name>`) on the same node, compares them with the
manifest and deletes them.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import tarfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, ClassVar, cast

import httpx

from leapfrog.backup._objects import ReadableChunks
from leapfrog.backup._os_facts import checked, diff_indices, index_facts, user_indices
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
_CHUNK = 1 << 20
_POLL = 0.1  # a snapshot of a few MB takes a few tenths: a long poll would double it


def _repo_dir(store: Store, name: str) -> Path:
    return store.where.data_dir / "snapshots" / name


def _client(store: Store) -> httpx.Client:
    where = store.where
    return httpx.Client(
        base_url=f"http://{where.address}:{where.port}", timeout=httpx.Timeout(60.0)
    )


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


def _snapshot(client: httpx.Client, name: str, indices: list[str], run: RunControl) -> Any:
    """Take the snapshot and wait for it; its `_status` entry."""
    body = {"indices": ",".join(indices), "include_global_state": False}
    checked(client.put(f"/_snapshot/{REPOSITORY}/{name}", json=body), f"snapshot {name}")
    done = -1
    while True:
        run.check()
        status = checked(client.get(f"/_snapshot/{REPOSITORY}/{name}/_status"), "status")
        entry = status["snapshots"][0]
        processed = entry.get("stats", {}).get("processed", {}).get("size_in_bytes", 0)
        if processed != done:
            done = processed
            run.progressed(f"snapshot {name}")
        if entry["state"] == "SUCCESS":
            return entry
        if entry["state"] in ("FAILED", "ABORTED", "PARTIAL"):
            raise BackupError(f"OpenSearch snapshot {name} ended {entry['state']}")
        time.sleep(_POLL)


def _drop_older(client: httpx.Client, keep: str) -> None:
    listed = checked(client.get(f"/_snapshot/{REPOSITORY}/_all"), "snapshots")
    for snapshot in listed.get("snapshots", []):
        if snapshot["snapshot"] != keep:
            checked(
                client.delete(f"/_snapshot/{REPOSITORY}/{snapshot['snapshot']}"),
                f"deleting snapshot {snapshot['snapshot']}",
            )


def _stream(stdout: IO[bytes]) -> Iterator[bytes]:
    while chunk := stdout.read(_CHUNK):
        yield chunk


def _restore_call(  # noqa: PLR0917
    client: httpx.Client,
    repository: str,
    snapshot: str,
    body: dict[str, Any],
    restored: list[str],
    run: RunControl,
) -> None:
    """The restore, waited for by OpenSearch itself (`wait_for_completion`) in a thread,
    while this one reports the recovered bytes as progress."""
    url = f"/_snapshot/{repository}/{snapshot}/_restore"
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="os-restore") as pool:
        call = pool.submit(
            client.post,
            url,
            params={"wait_for_completion": "true"},
            json=body,
            timeout=httpx.Timeout(60.0, read=None),
        )
        recovered = -1
        while True:
            try:
                response = call.result(timeout=_POLL)
                break
            except FuturesTimeout:
                pass
            run.check()
            recovery = client.get(f"/{','.join(restored)}/_recovery")
            if recovery.status_code != httpx.codes.OK:
                continue  # the indices are not created yet
            now = sum(
                shard.get("index", {}).get("size", {}).get("recovered_in_bytes", 0)
                for index in recovery.json().values()
                for shard in index.get("shards", [])
            )
            if now != recovered:
                recovered = now
                run.progressed("restoring indices")
    shards = checked(response, f"restore of {snapshot}").get("snapshot", {}).get("shards", {})
    if shards.get("failed", 0) or not shards.get("successful"):
        raise BackupError(
            f"OpenSearch restored {shards.get('successful', 0)} of {shards.get('total', '?')} "
            f"shards of {snapshot}; see the node's log (`leapfrog logs`)"
        )


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
            _register(client, REPOSITORY, repo, readonly=False)
            facts = {index: index_facts(client, index, run) for index in indices}
            name = f"lf-{datetime.now(UTC):%Y%m%dt%H%M%S}-{secrets.token_hex(3)}"
            entry = _snapshot(client, name, indices, run)
            _drop_older(client, name)
        stats = entry.get("stats", {})
        proc = run.spawn(
            ["tar", "-C", str(repo), "-cf", "-", "."],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdout is not None and proc.stderr is not None
        try:
            sink.put(_OBJECT, _stream(proc.stdout))
        finally:
            proc.stdout.close()
            errors = proc.stderr.read().decode(errors="replace").strip()
            code = proc.wait()
        if code != 0:
            raise BackupError(f"tar of the repository {repo} failed (exit {code}): {errors}")
        return Taken(
            store_version=version,
            position={
                "snapshot": name,
                "files": str(stats.get("total", {}).get("file_count", "?")),
                "new_files": str(stats.get("incremental", {}).get("file_count", "?")),
                "new_bytes": str(stats.get("incremental", {}).get("size_in_bytes", "?")),
            },
            facts={"indices": facts},
        )

    # -- restore and verify -------------------------------------------------------
    def _chosen(self, manifest: Manifest) -> list[str]:
        held = sorted(manifest.facts.get("indices", {}))
        return pick(held, self.only, "index", f"backup {manifest.id}")

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
        with tarfile.open(
            fileobj=cast(IO[bytes], ReadableChunks(source.open(_OBJECT))), mode="r|"
        ) as tar:
            for member in tar:
                # From our own storage and sha256-checked; still, nothing may leave the
                # repository (tarfile's extraction filters need Python 3.11.4).
                if member.name.startswith("/") or ".." in Path(member.name).parts:
                    raise BackupError(f"{_OBJECT} holds an unsafe path {member.name!r}")
                if not (member.isfile() or member.isdir()):
                    raise BackupError(f"{_OBJECT} holds a link or device {member.name!r}")
                run.progressed("unpacking the repository")
                tar.extract(member, repo)
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
                _register(client, repository, repo, readonly=True)
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
