"""Instance output through a named pipe into its log file, rotated by size while it runs.

Each instance writes to a FIFO (`run/pipes/<instance>`) that it holds open read-write:
it is a reader of its own pipe too, so a write never meets EPIPE/SIGPIPE, even while no
supervisor runs (a supervisor killed and not yet replaced; the instances are adopted by
the next one). Without a reader the pipe fills (1 MiB) and the instance's writes wait;
the next supervisor opens the FIFO by its name and drains it. One thread of the
supervisor moves the bytes from every pipe into its log file with splice(2): they go
from the pipe to the file inside the kernel, so a supervisor killed at any moment loses
no line (what it has not moved is still in the pipe).

When a file reaches its `max_size` it is renamed to `<log>.1` (`.1` to `.2`, ..., the
oldest beyond `max_files` deleted) and a new file begins. A last line cut by the size
limit is copied to the start of the new file, so every line is whole in the newest file
that has it; readers that follow a file across rotation (the collector, `logs -f`) drop
the unfinished end of the file they leave and read the line whole from the new one.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import selectors
import stat
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LogLimits", "LogWriter", "rotated_paths"]

PIPE_BYTES = 1 << 20
"""The pipe's buffer: what an instance can write while nobody drains it."""
_CHUNK = 1 << 20
_TURN_BYTES = 8 << 20
"""At most this much from one pipe per turn, so that one chatty instance cannot starve the rest."""
_CARRY_MAX = 64 * 1024
"""A cut line longer than this is not carried over (readers cut lines there anyway)."""
_LOG_MODE = 0o640
_RETRY_AFTER = 1.0


@dataclass(frozen=True)
class LogLimits:
    max_size: int
    """Bytes a log file may hold; then it is rotated."""
    max_files: int
    """Files kept, the one being written included."""


def rotated_paths(log: Path, count: int) -> list[Path]:
    """`log.1` ... `log.<count>`, newest first."""
    return [log.with_name(f"{log.name}.{n}") for n in range(1, count + 1)]


class _Stream:
    def __init__(self, name: str, pipe_fd: int, log_path: Path, limits: LogLimits) -> None:
        self.name = name
        self.pipe_fd = pipe_fd
        self.log_path = log_path
        self.limits = limits
        self.file_fd = -1
        self.size = 0
        self._open_file()

    def _open_file(self) -> None:
        fd = os.open(self.log_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, _LOG_MODE)
        self.file_fd, self.size = fd, os.fstat(fd).st_size

    def pump(self) -> bool:
        """Move what the pipe holds into the file (at most _TURN_BYTES); True when the pipe
        may hold more."""
        moved = 0
        while moved < _TURN_BYTES:
            room = self.limits.max_size - self.size
            if room <= 0:
                self.rotate()
                continue
            try:
                count = os.splice(
                    self.pipe_fd,
                    self.file_fd,
                    min(room, _CHUNK),
                    offset_dst=self.size,
                    flags=os.SPLICE_F_NONBLOCK | os.SPLICE_F_MOVE,
                )
            except BlockingIOError:
                return False
            if count == 0:
                return False
            self.size += count
            moved += count
        return True

    def rotate(self) -> None:
        """The full file becomes `.1`; the new one starts with the cut last line, if any."""
        carry = self._cut_line()
        paths = rotated_paths(self.log_path, self.limits.max_files - 1)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.log_path.with_name(f"{self.log_path.name}.{self.limits.max_files}"))
        for older, newer in reversed(list(zip(paths[1:], paths[:-1], strict=True))):
            with contextlib.suppress(FileNotFoundError):
                os.rename(newer, older)
        if paths:
            os.rename(self.log_path, paths[0])
        else:
            os.unlink(self.log_path)  # max_files 1: nothing older is kept
        old = self.file_fd
        fd = os.open(self.log_path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, _LOG_MODE)
        os.close(old)
        self.file_fd, self.size = fd, 0
        if carry:
            os.pwrite(fd, carry, 0)
            self.size = len(carry)

    def _cut_line(self) -> bytes:
        if self.size == 0:
            return b""
        start = max(0, self.size - _CARRY_MAX)
        tail = os.pread(self.file_fd, self.size - start, start)
        if tail.endswith(b"\n"):
            return b""
        newline = tail.rfind(b"\n")
        if newline < 0:
            return b""  # a line longer than _CARRY_MAX: cut where it is
        carry = tail[newline + 1 :]
        return carry if len(carry) < self.limits.max_size // 2 else b""

    def close(self) -> None:
        for fd in (self.pipe_fd, self.file_fd):
            with contextlib.suppress(OSError):
                os.close(fd)


class LogWriter:
    """The supervisor's one thread that drains every instance's pipe into its log."""

    def __init__(self, pipes: Path) -> None:
        self._pipes = pipes
        self._selector = selectors.DefaultSelector()
        self._streams: dict[str, _Stream] = {}
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._stop = False
        self._thread: threading.Thread | None = None

    def pipe_path(self, instance: str) -> Path:
        return self._pipes / instance

    # -- from the supervisor ------------------------------------------------------------

    def output_for(self, name: str, log_path: Path, limits: LogLimits) -> int:
        """A new write end of the instance's pipe, for a process to inherit as stdout and
        stderr (the caller closes it once the process is started). Makes the FIFO when
        missing and starts draining it."""
        path = self._fifo(name)
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)  # read-write: never EPIPE, see above
        with contextlib.suppress(OSError):  # a smaller buffer only means earlier waits
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        self.follow(name, log_path, limits)
        return fd

    def follow(self, name: str, log_path: Path, limits: LogLimits) -> bool:
        """Drain the pipe of an instance already running (adopted from an earlier
        supervisor); False when it has none (it writes to its log file itself)."""
        with self._lock:
            stream = self._streams.get(name)
            if stream is not None:
                stream.limits = limits
                return True
            path = self.pipe_path(name)
            try:
                if not stat.S_ISFIFO(os.stat(path).st_mode):
                    return False
                pipe_fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
            except FileNotFoundError:
                return False
            stream = _Stream(name, pipe_fd, log_path, limits)
            self._streams[name] = stream
            self._selector.register(pipe_fd, selectors.EVENT_READ, stream)
        self._wake()
        return True

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="leapfrog-logwriter", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Move what every pipe still holds, then stop (after the instances stopped)."""
        self._stop = True
        self._wake()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        with self._lock:
            for stream in self._streams.values():
                with contextlib.suppress(OSError):
                    while stream.pump():
                        pass
                stream.close()
            self._streams.clear()
            self._selector.close()
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)

    def drain(self) -> None:
        """Move everything the pipes hold now, in the caller's thread (tests, shutdown)."""
        with self._lock:
            for stream in list(self._streams.values()):
                while stream.pump():
                    pass

    # -- the thread ---------------------------------------------------------------------

    def _fifo(self, name: str) -> Path:
        path = self.pipe_path(name)
        self._pipes.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            os.mkfifo(path, 0o600)
        except FileExistsError:
            if not stat.S_ISFIFO(os.lstat(path).st_mode):
                path.unlink()
                os.mkfifo(path, 0o600)
        return path

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_w, b"x")

    def _run(self) -> None:
        while not self._stop:
            for key, _ in self._selector.select():
                if key.fd == self._wake_r:
                    with contextlib.suppress(BlockingIOError):
                        os.read(self._wake_r, 4096)
                    continue
                with self._lock:
                    stream: _Stream = key.data
                    if stream.name not in self._streams:
                        continue
                    try:
                        stream.pump()
                    except Exception as exc:  # one log's failure must not end every log
                        failed = exc
                    else:
                        continue
                # The disk is full, say: the pipe keeps the bytes (the instance waits on
                # a full pipe) and the next turn, a second later, tries again.
                reason = getattr(failed, "strerror", None) or failed
                print(f"log of {stream.name}: {reason}", file=sys.stderr)
                time.sleep(_RETRY_AFTER)
