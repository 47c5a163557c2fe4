"""The on-disk spool: append-only segment files holding records Kafka has not taken yet.

Layout of the spool directory:

* `<id>.seg`, `id` a 20-digit number: records in the order they must reach Kafka. Segments
  are read in id order; a new one starts when the current one reaches the segment size.
* `cursor`: `<id> <offset>` of the first record whose delivery is not confirmed yet.
  Segments before it are deleted; on start, reading resumes there.

A record is a header (value length, CRC-32 of the rest, topic length, key length, big
endian) then topic, key and value. A torn record at the end of a segment (a crash in the
middle of a write) is cut off when the spool is opened.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import time
import zlib
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

__all__ = ["Position", "Record", "Spool"]

Position = tuple[int, int]
"""(segment id, byte offset) of a record."""

_HEADER = struct.Struct(">IIHH")
_FIRST_ID = 10**12  # leaves room below for segments that must be read first
_SUFFIX = ".seg"
_log = logging.getLogger("leapfrog.telemetry.spool")


@dataclass(frozen=True)
class Record:
    position: Position
    topic: str
    key: bytes
    value: bytes


class Spool:
    """Single-threaded: only the shipper's worker thread touches it."""

    def __init__(
        self, directory: Path, *, max_bytes: int, segment_bytes: int, fsync_interval: float
    ) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.fsync_interval = fsync_interval
        directory.mkdir(parents=True, exist_ok=True)
        self._sizes: dict[int, int] = {}
        for path in sorted(directory.glob(f"*{_SUFFIX}")):
            with contextlib.suppress(ValueError):
                seg = int(path.stem)
                self._sizes[seg] = _recover(path)
        self._cursor = self._read_cursor()
        for seg in [s for s in self._sizes if s < self._cursor[0]]:
            self._delete(seg)
        self._next_id = max(self._sizes, default=_FIRST_ID - 1) + 1
        self._read_pos: Position = self._cursor
        self._unacked: deque[list[object]] = deque()
        self._acked_ahead: set[Position] = set()
        self._writer: BinaryIO | None = None
        self._writer_id = -1
        self._front: BinaryIO | None = None
        self._front_id = -1
        self._reader: BinaryIO | None = None
        self._reader_id = -1
        self._dirty = False
        self._cursor_dirty = False
        self._synced_at = time.monotonic()
        self._normalize()
        if self.empty:
            self._clear()

    # -- state -------------------------------------------------------------------------

    @property
    def size(self) -> int:
        return sum(self._sizes.values())

    @property
    def empty(self) -> bool:
        """Nothing left to read and nothing read but unconfirmed."""
        return not self._unacked and not self._has_more()

    @property
    def backlog_bytes(self) -> int:
        """Bytes from the cursor on: what is still to be delivered."""
        seg, off = self._cursor
        return sum(size for s, size in self._sizes.items() if s >= seg) - off

    # -- writing -------------------------------------------------------------------------

    def append(self, topic: str, key: bytes, value: bytes) -> bool:
        """Add a record behind everything spooled; False when the size bound is reached."""
        data = _frame(topic, key, value)
        if self.size + len(data) > self.max_bytes:
            return False
        if self._writer is None or self._sizes[self._writer_id] + len(data) > self.segment_bytes:
            self._open_writer()
        assert self._writer is not None
        self._writer.write(data)
        self._sizes[self._writer_id] += len(data)
        self._dirty = True
        return True

    def append_front(self, topic: str, key: bytes, value: bytes) -> bool:
        """Add a record that must be delivered before everything spooled so far (a record
        Kafka refused after newer ones were spooled). Consecutive calls keep their order
        until `end_front`."""
        if self._unacked or self._acked_ahead:
            # Delivery from the spool has begun, so nothing can go before it any more.
            return self.append(topic, key, value)
        data = _frame(topic, key, value)
        if self.size + len(data) > self.max_bytes:
            return False
        if self._front is None:
            self._front_id = min(self._sizes, default=self._next_id) - 1
            self._front = open(self._path(self._front_id), "ab", buffering=0)  # noqa: SIM115
            self._sizes[self._front_id] = 0
            self._read_pos = self._cursor = (self._front_id, 0)
            self._cursor_dirty = True
        self._front.write(data)
        self._sizes[self._front_id] += len(data)
        self._dirty = True
        return True

    def end_front(self) -> None:
        if self._front is not None:
            _fsync_close(self._front)
            self._front = None

    # -- reading and confirming ------------------------------------------------------------

    def read(self) -> Record | None:
        """The next record to send, or None when everything has been read."""
        while self._has_more():
            seg, off = self._read_pos
            record = self._read_at(seg, off)
            if record is None:  # unreadable rest of a segment: skip to the next one
                self._sizes[seg] = off
                self._normalize()
                continue
            self._read_pos = (seg, off + _HEADER.size + _payload_len(record))
            self._normalize()
            if record.position in self._acked_ahead:
                self._acked_ahead.discard(record.position)
                self._unacked.append([record.position, True])
                self._advance()
                continue
            self._unacked.append([record.position, False])
            return record
        return None

    def ack(self, position: Position) -> None:
        """Kafka confirmed this record: it will not be sent again."""
        for entry in self._unacked:
            if entry[0] == position:
                entry[1] = True
                break
        self._advance()

    def rewind(self) -> None:
        """Read again from the first unconfirmed record (after a failed delivery),
        skipping those confirmed since."""
        self._acked_ahead.update(e[0] for e in self._unacked if e[1])  # type: ignore[misc]
        self._unacked.clear()
        self._read_pos = self._cursor

    def _advance(self) -> None:
        moved = False
        while self._unacked and self._unacked[0][1]:
            self._unacked.popleft()
            moved = True
        if not moved:
            return
        self._cursor = self._unacked[0][0] if self._unacked else self._read_pos  # type: ignore[assignment]
        self._cursor_dirty = True
        for seg in [s for s in self._sizes if s < self._cursor[0]]:
            self._delete(seg)
        if self.empty:
            self._clear()

    # -- durability ----------------------------------------------------------------------

    def sync_if_due(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if now - self._synced_at >= self.fsync_interval:
            self.sync()

    def sync(self) -> None:
        self._synced_at = time.monotonic()
        if self._dirty:
            for handle in (self._writer, self._front):
                if handle is not None:
                    os.fsync(handle.fileno())
            self._dirty = False
        if self._cursor_dirty:
            self._write_cursor()

    def close(self) -> None:
        self.sync()
        for handle in (self._writer, self._front, self._reader):
            if handle is not None:
                handle.close()
        self._writer = self._front = self._reader = None

    # -- internals -----------------------------------------------------------------------

    def _path(self, seg: int) -> Path:
        return self.directory / f"{seg:020d}{_SUFFIX}"

    def _has_more(self) -> bool:
        seg, off = self._read_pos
        return off < self._sizes.get(seg, 0)

    def _normalize(self) -> None:
        """Move the read position past the end of a segment to the start of the next."""
        seg, off = self._read_pos
        later = [s for s in self._sizes if s > seg]
        if off >= self._sizes.get(seg, 0) and later:
            self._read_pos = (min(later), 0)
            if not self._unacked:
                self._cursor = self._read_pos
                self._cursor_dirty = True

    def _open_writer(self) -> None:
        if self._writer is not None:
            _fsync_close(self._writer)
        self._writer_id = self._next_id
        self._next_id += 1
        self._writer = open(self._path(self._writer_id), "ab", buffering=0)  # noqa: SIM115
        self._sizes[self._writer_id] = 0
        if not self._unacked and not self._has_more() and self._front is None:
            self._read_pos = self._cursor = (self._writer_id, 0)
            self._cursor_dirty = True
        else:
            self._normalize()

    def _read_at(self, seg: int, off: int) -> Record | None:
        if self._reader_id != seg or self._reader is None:
            if self._reader is not None:
                self._reader.close()
            self._reader = open(self._path(seg), "rb")  # noqa: SIM115
            self._reader_id = seg
        self._reader.seek(off)
        header = self._reader.read(_HEADER.size)
        if len(header) < _HEADER.size:
            return None
        value_len, crc, topic_len, key_len = _HEADER.unpack(header)
        body = self._reader.read(topic_len + key_len + value_len)
        if len(body) != topic_len + key_len + value_len or zlib.crc32(body) != crc:
            _log.warning("spool segment %s is damaged at byte %d: skipping its rest", seg, off)
            return None
        return Record(
            (seg, off),
            body[:topic_len].decode(),
            body[topic_len : topic_len + key_len],
            body[topic_len + key_len :],
        )

    def _delete(self, seg: int) -> None:
        for handle_id, handle in ((self._reader_id, self._reader),):
            if handle_id == seg and handle is not None:
                handle.close()
                self._reader = None
                self._reader_id = -1
        if seg == self._writer_id and self._writer is not None:
            self._writer.close()
            self._writer = None
            self._writer_id = -1
        self._sizes.pop(seg, None)
        with contextlib.suppress(FileNotFoundError):
            self._path(seg).unlink()

    def _clear(self) -> None:
        """Everything was delivered: no segments, no cursor."""
        self.end_front()
        for seg in list(self._sizes):
            self._delete(seg)
        self._read_pos = self._cursor = (self._next_id, 0)
        self._acked_ahead.clear()
        self._cursor_dirty = False
        with contextlib.suppress(FileNotFoundError):
            (self.directory / "cursor").unlink()

    def _read_cursor(self) -> Position:
        first = min(self._sizes, default=_FIRST_ID)
        try:
            seg_text, off_text = (self.directory / "cursor").read_text().split()
            seg, off = int(seg_text), int(off_text)
        except (OSError, ValueError):
            return (first, 0)
        if seg not in self._sizes or off > self._sizes[seg]:
            return (first, 0)
        return (seg, off)

    def _write_cursor(self) -> None:
        self._cursor_dirty = False
        if not self._sizes:
            return
        tmp = self.directory / "cursor.tmp"
        with open(tmp, "w") as handle:
            handle.write(f"{self._cursor[0]} {self._cursor[1]}\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.directory / "cursor")


def _frame(topic: str, key: bytes, value: bytes) -> bytes:
    body = topic.encode() + key + value
    return _HEADER.pack(len(value), zlib.crc32(body), len(topic.encode()), len(key)) + body


def _payload_len(record: Record) -> int:
    return len(record.topic.encode()) + len(record.key) + len(record.value)


def _fsync_close(handle: BinaryIO) -> None:
    os.fsync(handle.fileno())
    handle.close()


def _recover(path: Path) -> int:
    """The length of the readable records of a segment, cutting off a torn tail."""
    good = 0
    with open(path, "r+b") as handle:
        data = handle.read()
        while good + _HEADER.size <= len(data):
            value_len, crc, topic_len, key_len = _HEADER.unpack_from(data, good)
            end = good + _HEADER.size + topic_len + key_len + value_len
            if end > len(data) or zlib.crc32(data[good + _HEADER.size : end]) != crc:
                break
            good = end
        if good != len(data):
            _log.warning("spool segment %s: cut off %d torn bytes", path.name, len(data) - good)
            handle.truncate(good)
    return good
