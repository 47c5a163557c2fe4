"""A ZooKeeper snapshot's facts read while it streams, by `_zk_snapshot.py` run as a
program of its own: the stream's chunks are written to its stdin as they are stored,
and its answer (the znodes' hashes, the ephemeral paths) is read once the stream ended.

Why a process and not a thread: the parse is Python (~0.15 s of CPU for 65 MB and
16,386 znodes) and holds the interpreter lock, which the thread hashing and writing
each chunk had to wait for after each sha256 and write (bench/README.md, ZooKeeper).
The program imports only the standard library (`python -I -S`): it starts in ~20 ms,
while ZooKeeper still writes the snapshot it will stream. It dies with the backup
(`RunControl.spawn`), and ends at the end of its stdin whatever happens to the caller.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

from leapfrog.backup import _zk_snapshot
from leapfrog.backup._zk_tree import summary
from leapfrog.backup.control import RunControl
from leapfrog.backup.driver import BackupError

__all__ = ["ProcessReader", "snapshot_facts"]

_F_SETPIPE_SZ = 1031
_PIPE = 1 << 20
"""Bytes the pipe to the reader holds (64 KiB by default): a chunk in one write."""


def snapshot_facts(tree: dict[str, str], ephemeral: list[str]) -> dict[str, Any]:
    """The manifest's facts of a snapshot: `_zk_tree.summary` of its persistent znodes,
    plus the ephemeral paths."""
    return {**summary(tree), "ephemeral_skipped": len(ephemeral), "ephemeral": ephemeral}


class ProcessReader:
    """`_zk_snapshot.py` in a process of its own: `feed` it every chunk of the snapshot,
    then `facts()`. Use it as a context manager (the process ends with the block)."""

    def __init__(self, run: RunControl) -> None:
        program = Path(_zk_snapshot.__file__)
        self._proc = run.spawn(
            [sys.executable, "-I", "-S", str(program)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert self._proc.stdin is not None
        with contextlib.suppress(OSError):  # a smaller pipe only means more writes
            fcntl.fcntl(self._proc.stdin.fileno(), _F_SETPIPE_SZ, _PIPE)
        self._broken = False

    def feed(self, chunk: bytes) -> None:
        if self._broken:
            return
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(chunk)
        except (BrokenPipeError, ValueError):
            self._broken = True  # it died: `facts` says why

    def facts(self) -> dict[str, Any]:
        """The facts, once every chunk fed was read; a BackupError when the snapshot was
        not whole or not readable, or the reader failed."""
        self._end_input()
        assert self._proc.stdout is not None and self._proc.stderr is not None
        out = self._proc.stdout.read()
        err = self._proc.stderr.read()
        code = self._proc.wait()
        try:
            answer = json.loads(out) if code == 0 else None
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            last = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise BackupError(f"the snapshot reader failed (exit {code}): {last[0][:200]}")
        if "error" in answer:
            raise BackupError(str(answer["error"]), hint=answer.get("hint"))
        return snapshot_facts(answer["tree"], answer["ephemeral"])

    def _end_input(self) -> None:
        assert self._proc.stdin is not None
        with contextlib.suppress(BrokenPipeError, ValueError):
            self._proc.stdin.close()

    def close(self) -> None:
        self._end_input()
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        for stream in (self._proc.stdout, self._proc.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> ProcessReader:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
