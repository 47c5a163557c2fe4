"""Files stored while a program still writes them: a backup tool that writes its output
one file at a time (`influxd backup -portable`: each shard's `.tar.gz` in turn) is read
as it goes, so storing (sha256, write, read back) overlaps the tool instead of
following it.

Each file matching `pattern` is stored from the moment it appears, its end waited for
until a newer one appears or the program exits (it writes them one after another,
appending). Once it has exited, `finish` checks each stored file's size against the
bytes read: a file that changed after it was stored is dropped and left to be stored
again (`stored` says which were complete). Only the program's exit status proves the
files complete; the caller judges it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

from leapfrog.backup.driver import Sink
from leapfrog.backup.manifest import ObjectEntry

__all__ = ["Following"]

_CHUNK = 1 << 20
_POLL = 0.01
"""Seconds between looks for more bytes or a new file while the program writes."""


class Following:
    """Store the files matching `pattern` in `folder` (objects `prefix + name`,
    uncompressed when `compress` is False) while a program writes them. Use as a
    context manager around the program's run; then `finish()` once it has exited."""

    def __init__(
        self, sink: Sink, folder: Path, prefix: str, pattern: str, compress: bool = True
    ) -> None:
        self._sink = sink
        self._folder = folder
        self._prefix = prefix
        self._pattern = pattern
        self._compress = compress
        self._exited = threading.Event()
        self._seen: set[str] = set()
        self._read: dict[str, tuple[ObjectEntry, int]] = {}
        self._error: BaseException | None = None
        self._finished = False
        self._thread = threading.Thread(target=self._follow, name="following", daemon=True)
        self.stored: dict[str, ObjectEntry] = {}
        """Each file stored whole (by name), once `finish` has returned."""

    def __enter__(self) -> Following:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._exited.set()
        self._thread.join()

    def _fresh(self) -> list[Path]:
        return sorted(p for p in self._folder.glob(self._pattern) if p.name not in self._seen)

    def _follow(self) -> None:
        try:
            while True:
                exited = self._exited.is_set()  # a listing after the exit misses nothing
                for path in self._fresh():
                    self._seen.add(path.name)
                    self._store(path)
                if exited:
                    return
                self._exited.wait(_POLL)
        except BaseException as exc:  # raised by `finish`, in the caller's thread
            self._error = exc

    def _store(self, path: Path) -> None:
        read = 0

        def tail() -> Iterator[bytes]:
            nonlocal read
            with path.open("rb") as data:
                while True:
                    # Judged before the read: a read after that which finds no more
                    # bytes has reached the file's end for good.
                    done = self._exited.is_set() or bool(self._fresh())
                    chunk = data.read(_CHUNK)
                    if chunk:
                        read += len(chunk)
                        yield chunk
                    elif done:
                        return
                    else:
                        self._exited.wait(_POLL)

        entry = self._sink.put(self._prefix + path.name, tail(), compress=self._compress)
        self._read[path.name] = (entry, read)

    def finish(self) -> dict[str, ObjectEntry]:
        """After the program exited: wait for the last file, drop each stored file whose
        size is no longer what was read (or that is gone); the files stored whole.
        Once: later calls return the same."""
        self._exited.set()
        self._thread.join()
        if self._error is not None:
            raise self._error
        if self._finished:
            return self.stored
        self._finished = True
        for name, (entry, read) in self._read.items():
            path = self._folder / name
            if path.is_file() and path.stat().st_size == read:
                self.stored[name] = entry
            else:
                self._sink.drop(entry)
        return self.stored

    def discard(self) -> None:
        """Drop every file stored (a try the caller does not keep)."""
        self.finish()
        for entry in self.stored.values():
            self._sink.drop(entry)
        self.stored = {}
