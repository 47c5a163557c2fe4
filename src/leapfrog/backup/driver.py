"""THE backup driver contract: one implementation per store, one module each.

The engine (`engine.py`) owns everything that must be the same for every store: the
lock, deadline and progress detection, writing objects with their sha256, reading
them back, the manifest, status, history and retention. A driver only speaks its
store's native, consistent mechanism:

- `backup` streams the store's data as named objects into a `Sink` and reports the
  store's version, its position (WAL LSN, offsets, zxid) and facts that verify compares;
- `restore` puts a backup back (`replaces` says first what it overwrites);
- `verify` restores into a scratch instance of the same component and compares it
  with the manifest's facts;
- `describe` adds what `list` should know beyond the manifests (a broken WAL chain);
- `position_summary` says a backup's position in one short line (`list`, and a
  Backup's status on Kubernetes);
- `prune` removes what the driver keeps besides backups (WAL no kept backup needs).

A driver that can back up or restore part of its store names what is chosen
(`chooses`: topic, index, database); `only` holds the names or shell patterns
chosen (`pick` applies them, failing on one that chooses nothing).

Drivers see the store as a `Store`: the component, its options, and the instance's
`Instance` (address, data dir, user), so the local runtime and the Kubernetes
operators hand the same thing.
"""

from __future__ import annotations

import fnmatch
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, Protocol

from leapfrog.backup.control import RunControl
from leapfrog.backup.manifest import Manifest, ObjectEntry
from leapfrog.backup.storage import Storage
from leapfrog.components.base import Component, Installation, Instance
from leapfrog.shared.errors import LeapfrogError

__all__ = [
    "BackupDriver",
    "BackupError",
    "Sink",
    "Source",
    "Store",
    "Taken",
    "Verified",
    "pick",
]


class BackupError(LeapfrogError):
    """A driver's failure, in words for the run's status."""


@dataclass(frozen=True)
class Store:
    name: str
    component: Component[Any]
    options: Any
    where: Instance
    installed: Installation | Callable[[], Installation]
    """What the component's `install` made, or how to make it (a remote store's: a Job's
    backup of ZooKeeper or OpenSearch only talks HTTP to the server, so its image needs
    no JVM or download unless a step starts a scratch server); see `installation`."""
    remote: bool = False
    """The store runs elsewhere (a Kubernetes Service, `leapfrog.backup.remote`): the
    driver reaches it over TCP at `where.address:where.port` only, with the credentials
    of the environment; `where.data_dir` is a work folder of the run's own, and scratch
    servers listen on `local_address`."""

    server_data_dir: Path | None = None
    """Where the store's server has `where.data_dir`, when this process mounts the same
    volume elsewhere (an OpenSearch Job on Kubernetes: the node's `path.repo` is under
    its own mount); None: where this process has it."""

    def as_server_sees(self, path: Path) -> Path:
        """`path` (under `where.data_dir`) as the store's server names it."""
        if self.server_data_dir is None:
            return path
        return self.server_data_dir / path.relative_to(self.where.data_dir)

    @cached_property
    def installation(self) -> Installation:
        """The component's installation, made on first use when it was given as a callable."""
        if isinstance(self.installed, Installation):
            return self.installed
        return self.installed()

    @property
    def local_address(self) -> str:
        """Where this process starts scratch servers: the instance's own loopback
        address locally, 127.0.0.1 when the store is remote."""
        return "127.0.0.1" if self.remote else self.where.address


@dataclass(frozen=True)
class Taken:
    store_version: str
    position: dict[str, str]
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Verified:
    ok: bool
    detail: str
    facts: dict[str, Any] = field(default_factory=dict)


class Sink(Protocol):
    previous: Manifest | None
    """The store's newest complete backup of the same mode (what an incremental driver
    compares with), or None."""

    def put(
        self,
        name: str,
        chunks: Iterable[bytes],
        shared: bool = False,
        compress: bool = True,
        light: bool = False,
    ) -> ObjectEntry:
        """Store one object (compressed when asked), counting progress. `shared`: kept
        where later backups can refer to it (`reuse`) instead of writing it again; only
        for an object whose name the store never gives to other bytes. `compress=False`:
        stored as it is even when the run compresses (bytes the store compressed
        already, which zstd would only pass through). `light=True`: zstd's lightest
        level instead of level 1, for bytes it shrinks about as much either way (Kafka
        records: the same ratio at 1.7 times the speed). Several threads may put
        objects of their own at once."""
        ...

    def drop(self, entry: ObjectEntry) -> None:
        """Forget an object this run put (a try the driver discards, a file that changed
        after it was stored): not in the manifest, deleted from the storage."""
        ...

    def reuse(self, name: str, raw_size: int) -> ObjectEntry | None:
        """`previous`'s shared object `name` of `raw_size` bytes as part of this backup,
        neither read nor written again; None when there is none to reuse."""
        ...


class Source(Protocol):
    manifest: Manifest

    def open(self, name: str) -> Iterator[bytes]:
        """An object's original bytes; raises BackupError naming it if its sha256 differs."""
        ...

    def extract(self, name: str, path: Path) -> None:
        """An object's original bytes into a file."""
        ...


class BackupDriver(ABC):
    kind: ClassVar[str]
    """The component kind it backs up (`postgres`)."""
    modes: ClassVar[tuple[str, ...]]
    """The first is the default."""
    chooses: ClassVar[str] = ""
    """What a run may be limited to (`topic`, `index`, `database`); empty: the whole store."""
    only: tuple[str, ...] = ()
    """Names or shell patterns (`logs-*`) chosen for this run; empty: everything."""

    @abstractmethod
    def backup(self, store: Store, mode: str, sink: Sink, run: RunControl) -> Taken: ...

    @abstractmethod
    def replaces(self, store: Store, manifest: Manifest, to: datetime | None) -> list[str]:
        """What a restore would overwrite, one line each, for the confirmation."""

    @abstractmethod
    def restore(
        self, store: Store, source: Source, storage: Storage, to: datetime | None, run: RunControl
    ) -> str:
        """Restore (to `to`, or the backup's own point / latest); one line on what now is."""

    @abstractmethod
    def verify(
        self, store: Store, source: Source, storage: Storage, scratch: Path, run: RunControl
    ) -> Verified: ...

    def checks_as_it_restores(self, manifest: Manifest) -> bool:
        """Whether a restore of `manifest` reads every object through the `Source` (whose
        sha256 check fails it at the object's end) and, when it fails, leaves the store as
        it was: then the engine skips its separate pass checking every object first."""
        return False

    def choose(self, manifests: Sequence[Manifest], to: datetime | None) -> Manifest | None:
        """Which backup a restore to `to` starts from: the newest that ended before it."""
        usable = [m for m in manifests if to is None or m.ended <= to]
        return max(usable, key=lambda m: m.ended) if usable else None

    def describe(self, store: Store, storage: Storage, manifests: Sequence[Manifest]) -> list[str]:
        """Notes for `list` beyond the manifests."""
        return []

    def prune(self, store: Store, storage: Storage, kept: Sequence[Manifest]) -> list[str]:
        """Remove what only the pruned backups needed; the keys removed."""
        return []

    def position_summary(self, position: Mapping[str, str]) -> str:
        """The manifest's position in one short line: its short entries as `key value`
        (a driver whose position has many or long entries says it its own way)."""
        shown = [f"{key} {value}" for key, value in position.items() if value and len(value) <= 40]
        return ", ".join(shown)


def pick(held: Sequence[str], only: Sequence[str], noun: str, where: str) -> list[str]:
    """The names of `held` that `only` chooses (names or shell patterns), sorted; all of
    them when `only` is empty. A name or pattern choosing nothing fails, listing what
    there is, so a typo never backs up or restores less than asked."""
    if not only:
        return sorted(held)
    chosen = sorted({n for n in held for p in only if fnmatch.fnmatchcase(n, p)})
    missing = [p for p in only if not any(fnmatch.fnmatchcase(n, p) for n in held)]
    if missing:
        plural = "indices" if noun == "index" else f"{noun}s"
        raise BackupError(
            f"{where} has no {noun} {', '.join(missing)}; its {plural}: "
            f"{', '.join(sorted(held)) or '(none)'}",
            hint="choose among them (names or shell patterns like `logs-*`)",
        )
    return chosen
