"""Kafka records as bytes in a backup object, and the hash verify compares.

One object per partition: a sequence of records, each a fixed header (original
offset, timestamp type and timestamp, key and value lengths, header count; -1 for a
null key or value) followed by the key, the value and each header (name, value).
The hash of a partition covers what a restore reproduces, in order: key, value,
headers and timestamp, not the offsets (a restore gives new, dense ones).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from leapfrog.backup.driver import BackupError

__all__ = ["Record", "RecordHash", "decode", "encode"]

_HEAD = struct.Struct(">qbqiiI")
_HEADER = struct.Struct(">Hi")


@dataclass(frozen=True)
class Record:
    offset: int
    timestamp_type: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = ()


def _length(data: bytes | None) -> int:
    return -1 if data is None else len(data)


def encode(record: Record) -> bytes:
    head, _, rest = encode_parts(
        record.offset,
        record.timestamp_type,
        record.timestamp,
        record.key,
        record.value,
        record.headers,
    )
    return head + rest


def encode_parts(  # noqa: PLR0917
    offset: int,
    timestamp_type: int,
    timestamp: int,
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes | None]],
) -> tuple[bytes, bytes, bytes]:
    """A record's encoding in two parts, its head and the rest, plus the head that
    `RecordHash` hashes (offset and timestamp type zeroed: a restore changes them).
    The backup's hot path: one encoding serves the object and the hash."""
    lengths = (timestamp, _length(key), _length(value), len(headers))
    parts = [key or b"", value or b""]
    for name, data in headers:
        raw = name.encode()
        parts += [_HEADER.pack(len(raw), _length(data)), raw, data or b""]
    return _HEAD.pack(offset, timestamp_type, *lengths), _HEAD.pack(0, 0, *lengths), b"".join(parts)


class _Buffer:
    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._data = bytearray()
        self._at = 0

    def take(self, size: int) -> bytes | None:
        """`size` bytes, or None at a clean end; raises on a cut record."""
        while len(self._data) - self._at < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                if self._at == len(self._data) and size > 0:
                    return None
                raise BackupError("a records object ends inside a record (truncated)")
            del self._data[: self._at]
            self._at = 0
            self._data += chunk
        out = bytes(self._data[self._at : self._at + size])
        self._at += size
        return out

    def need(self, size: int) -> bytes:
        if size <= 0:
            return b""
        data = self.take(size)
        if data is None:
            raise BackupError("a records object ends inside a record (truncated)")
        return data


def decode(chunks: Iterable[bytes]) -> Iterator[Record]:
    buffer = _Buffer(chunks)
    while (head := buffer.take(_HEAD.size)) is not None:
        offset, ts_type, timestamp, key_len, value_len, count = _HEAD.unpack(head)
        key = None if key_len < 0 else buffer.need(key_len)
        value = None if value_len < 0 else buffer.need(value_len)
        headers = []
        for _ in range(count):
            name_len, header_len = _HEADER.unpack(buffer.need(_HEADER.size))
            name = buffer.need(name_len).decode()
            headers.append((name, None if header_len < 0 else buffer.need(header_len)))
        yield Record(offset, ts_type, timestamp, key, value, tuple(headers))


@dataclass
class RecordHash:
    """Count and sha256 of a partition's records as a restore reproduces them."""

    count: int = 0
    _digest: hashlib._Hash = field(default_factory=hashlib.sha256)

    def add(self, record: Record) -> None:
        _, hashed_head, rest = encode_parts(
            0, 0, record.timestamp, record.key, record.value, record.headers
        )
        self.add_parts(hashed_head, rest)

    def add_parts(self, hashed_head: bytes, rest: bytes) -> None:
        """The same as `add` for a record already encoded by `encode_parts`."""
        self.count += 1
        self._digest.update(hashed_head)
        self._digest.update(rest)

    def facts(self) -> dict[str, int | str]:
        return {"records": self.count, "sha256": self._digest.hexdigest()}
