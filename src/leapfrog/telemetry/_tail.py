"""Following a growing log file across rotation and truncation, by polling.

The file stays open between polls, so a file renamed away (`x.log` -> `x.log.1`) is
read to its end before the new `x.log` is opened: no line is lost to a rotation. When
more than one rotation happened between two polls, the files in between (`x.log.2` is
ours, so `x.log.1` came after it) are read too, oldest first. The unfinished last line
of a file left behind is dropped: the writer that cut it there (runtime.local.logwriter)
starts the next file with it. The
position (inode, offset) can be saved and given back, so a restarted collector goes on
where it stopped instead of shipping everything again.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["FileFollower", "Position"]

Position = tuple[int, int]
"""(inode, byte offset) of the next byte to read."""

MAX_LINE = 64 * 1024
"""A longer line is cut here (and the rest dropped): one huge line must not hold memory."""
_CHUNK = 1 << 20
_MAX_ROTATED = 1000


class FileFollower:
    def __init__(self, path: Path, *, from_end: bool = False, at: Position | None = None) -> None:
        """`at`: where an earlier follower stopped (used when the inode still matches);
        otherwise the start of the file, or its end with `from_end` (a machine's syslog,
        whose history is not ours to ship)."""
        self.path = path
        self._from_end = from_end
        self._at = at
        self._fd: int | None = None
        self._inode = 0
        self._offset = 0
        self._partial = b""
        self._skipping = False  # inside a line longer than MAX_LINE

    @property
    def position(self) -> Position | None:
        return None if self._fd is None else (self._inode, self._offset)

    def read_lines(self) -> list[str]:
        """Complete lines written since the last call (a last line without its newline
        waits for it). Raises OSError when the file cannot be opened (absent, no right)."""
        lines: list[str] = []
        if self._fd is None:
            self._open(first=True)
        elif os.fstat(self._fd).st_size < self._offset:
            self._offset, self._partial = 0, b""  # truncated in place: from its start
        lines += self._read_available()
        if self._replaced():
            between = self._rotated_since()
            self._close()
            for fd in between:
                self._fd, self._offset, self._partial, self._skipping = fd, 0, b"", False
                lines += self._read_available()
                self._close()
            self._open(first=False)
            lines += self._read_available()
        return lines

    def close(self) -> None:
        self._close()

    def _open(self, *, first: bool) -> None:
        fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        stat = os.fstat(fd)
        self._fd, self._inode, self._offset = fd, stat.st_ino, 0
        if first and self._at is not None and self._at[0] == stat.st_ino:
            self._offset = min(self._at[1], stat.st_size)
        elif first and self._from_end:
            self._offset = stat.st_size
        self._partial, self._skipping = b"", False

    def _rotated_since(self) -> list[int]:
        """Open files of the rotations after ours (`path.1` ... `path.k-1` when ours is now
        `path.k`), oldest first; none when ours is not among them."""
        for number in range(1, _MAX_ROTATED + 1):
            rotated = self.path.with_name(f"{self.path.name}.{number}")
            try:
                inode = os.stat(rotated).st_ino
            except FileNotFoundError:
                return []
            if inode == self._inode:
                break
        else:
            return []
        fds: list[int] = []
        for newer in range(number - 1, 0, -1):
            with contextlib.suppress(OSError):
                fds.append(os.open(self.path.with_name(f"{self.path.name}.{newer}"), os.O_RDONLY))
        return fds

    def _replaced(self) -> bool:
        """The path now names another file (rotated), or ours shrank (truncated)."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return False  # renamed away, nothing new yet: keep reading the open file
        return stat.st_ino != self._inode

    def _read_available(self) -> list[str]:
        assert self._fd is not None
        lines: list[str] = []
        while True:
            data = os.pread(self._fd, _CHUNK, self._offset)
            if not data:
                return lines
            self._offset += len(data)
            lines += self._split(data)

    def _split(self, data: bytes) -> list[str]:
        pieces = (self._partial + data).split(b"\n")
        self._partial = pieces.pop()
        lines: list[str] = []
        for piece in pieces:
            if self._skipping:
                self._skipping = False  # the end of an over-long line: already cut
                continue
            lines.append(piece[:MAX_LINE].decode("utf-8", errors="replace"))
        if len(self._partial) > MAX_LINE:
            lines.append(self._partial[:MAX_LINE].decode("utf-8", errors="replace"))
            self._partial, self._skipping = b"", True
        return lines

    def _close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
