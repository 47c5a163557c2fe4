"""A tar stream extracted by the `tar` program, its headers checked on the way.

Python's `tarfile` extracts on one core at a fraction of the disk's speed; `tar` in a
process of its own writes while this process reads, checks and decompresses the next
chunk. Every header is read here before the chunk that completes it is handed on, so
a member that would leave the directory (an absolute path, `..`) or a link is refused
before `tar` sees it: the stream is from our own sha256-checked storage, and nothing
may still land outside the directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from leapfrog.backup.control import RunControl
from leapfrog.backup.driver import BackupError

__all__ = ["TarHeaders", "untar"]

_BLOCK = 512
_PIPE = 1 << 20
_META = {b"x", b"g", b"L"}
"""pax extended headers and GNU long names: their data names the next member."""
_FILES = {b"0", b"\0", b"7", b"5"}
_LINKS = {b"1", b"2"}
_META_LIMIT = 1 << 20


def _number(field: bytes) -> int:
    """A header's numeric field: octal, or base-256 when its first bit is set."""
    if field[0] & 0x80:
        return int.from_bytes(field[1:], "big")
    text = field.split(b"\0", 1)[0].strip()
    return int(text, 8) if text else 0


def _pax_path(data: bytes) -> str | None:
    """The `path` of pax records (`<length> <key>=<value>\\n` each)."""
    found = None
    at = 0
    while at < len(data):
        space = data.find(b" ", at)
        if space < 0:
            break
        length = int(data[at:space])
        key, _, value = data[space + 1 : at + length - 1].partition(b"=")
        if key == b"path":
            found = value.decode("utf-8", "surrogateescape")
        at += length
    return found


class TarHeaders:
    """Reads a tar stream's headers as it passes (`feed`), refusing unsafe members."""

    def __init__(self, what: str) -> None:
        self._what = what
        self._header = bytearray()
        self._skip = 0  # bytes of the current member's data (padded) still to pass
        self._meta: bytearray | None = None  # the data of a pax or long-name header
        self._meta_size = 0
        self._meta_type = b""
        self._next_name: str | None = None
        self._ended = False
        self.members = 0

    @property
    def cut(self) -> bool:
        """Whether the stream so far ends inside a header or a member's data."""
        return not self._ended and bool(self._skip or self._header or self._meta is not None)

    def feed(self, chunk: bytes | memoryview) -> None:
        view = memoryview(chunk)
        at = 0
        while at < len(view) and not self._ended:
            if self._skip:
                take = min(self._skip, len(view) - at)
                if self._meta is not None:
                    self._meta += view[at : at + take]
                self._skip -= take
                at += take
                if not self._skip and self._meta is not None:
                    self._extended(bytes(self._meta[: self._meta_size]))
                    self._meta = None
                continue
            take = min(_BLOCK - len(self._header), len(view) - at)
            self._header += view[at : at + take]
            at += take
            if len(self._header) == _BLOCK:
                header = bytes(self._header)
                self._header.clear()
                self._member(header)

    def _extended(self, data: bytes) -> None:
        if self._meta_type == b"L":
            self._next_name = data.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
        elif self._meta_type == b"x":
            self._next_name = _pax_path(data) or self._next_name

    def _member(self, header: bytes) -> None:
        if not any(header):
            self._ended = True  # the end-of-archive blocks; what follows is padding
            return
        stored = _number(header[148:156])
        if stored != sum(header[:148]) + 8 * 32 + sum(header[156:]):
            raise BackupError(f"{self._what} has a corrupt tar header")
        size = _number(header[124:136])
        kind = header[156:157]
        self._skip = -(-size // _BLOCK) * _BLOCK
        if kind in _META:
            if size > _META_LIMIT:
                raise BackupError(f"{self._what} has an extended tar header of {size} bytes")
            self._meta, self._meta_size, self._meta_type = bytearray(), size, kind
            return
        name = header[:100].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
        if header[257:262] == b"ustar" and (prefix := header[345:500].split(b"\0", 1)[0]):
            name = prefix.decode("utf-8", "surrogateescape") + "/" + name
        name, self._next_name = self._next_name or name, None
        if name.startswith("/") or ".." in PurePosixPath(name).parts:
            raise BackupError(f"{self._what} holds an unsafe path {name!r}")
        if kind in _LINKS:
            raise BackupError(f"{self._what} holds a link {name!r}: tablespaces are not supported")
        if kind not in _FILES:
            raise BackupError(f"{self._what} holds {name!r} of tar type {kind!r}, not a file")
        self.members += 1


def untar(chunks: Iterable[bytes], into: Path, what: str, run: RunControl) -> int:
    """Extract the tar stream `chunks` into the existing directory `into` with the
    `tar` program (modes kept, owners not: the caller sets them); the members' count.
    Fails, naming `what`, on an unsafe member, a stream cut short or tar's error."""
    headers = TarHeaders(what)
    with tempfile.TemporaryFile() as errors:
        proc = run.spawn(
            [
                "tar",
                "-x",
                "-p",
                "--no-same-owner",
                # 1 MiB reads from the pipe instead of 10 KiB ones, each filled (-B).
                "-b",
                "2048",
                "-B",
                "-f",
                "-",
                "-C",
                str(into),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
        assert proc.stdin is not None
        with contextlib.suppress(OSError, AttributeError):
            fcntl.fcntl(proc.stdin.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), _PIPE)
        try:
            try:
                for chunk in chunks:
                    headers.feed(chunk)
                    run.progressed(f"extracting {what}")
                    proc.stdin.write(chunk)
            except BrokenPipeError:
                pass  # tar stopped early: its exit status and message say why
            finally:
                with contextlib.suppress(BrokenPipeError):
                    proc.stdin.close()
        except BaseException:
            proc.kill()
            proc.wait()
            close = getattr(chunks, "close", None)
            if close is not None:
                close()  # a reading thread behind the chunks stops now
            raise
        code = proc.wait()
        run.check()
        if code != 0:
            errors.seek(0)
            lines = errors.read().decode(errors="replace").strip().splitlines()
            raise BackupError(
                f"tar could not extract {what} (exit {code}): {' | '.join(lines[-3:])}"
            )
    if headers.cut:
        raise BackupError(f"{what} ends inside a member (truncated)")
    return headers.members
