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
from typing import NamedTuple

from leapfrog.backup.driver import BackupError

__all__ = ["Record", "RecordHash", "append", "decode", "encode", "encode_parts"]

_HEAD = struct.Struct(">qbqiiI")
_HEADER = struct.Struct(">Hi")


class Record(NamedTuple):
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


def append(  # noqa: PLR0917
    out: bytearray,
    hashed: bytearray,
    offset: int,
    timestamp_type: int,
    timestamp: int,
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes | None]] | None,
) -> None:
    """A record's encoding onto `out` and what `RecordHash` hashes of it onto `hashed`
    (`add_encoded` takes it a batch at a time): the backup's hot path, one call and no
    intermediate bytes for a record without headers."""
    if headers:
        head, hashed_head, rest = encode_parts(
            offset, timestamp_type, timestamp, key, value, headers
        )
        out += head
        out += rest
        hashed += hashed_head
        hashed += rest
        return
    key_len = -1 if key is None else len(key)
    value_len = -1 if value is None else len(value)
    out += _HEAD.pack(offset, timestamp_type, timestamp, key_len, value_len, 0)
    hashed += _HEAD.pack(0, 0, timestamp, key_len, value_len, 0)
    if key:
        out += key
        hashed += key
    if value:
        out += value
        hashed += value


def _record_at(data: bytes, at: int) -> tuple[Record, int] | None:
    """The record starting at `at` and where the next one starts, or None when `data`
    ends inside it."""
    end = len(data)
    if end - at < _HEAD.size:
        return None
    offset, ts_type, timestamp, key_len, value_len, count = _HEAD.unpack_from(data, at)
    at += _HEAD.size
    key = value = None
    if key_len >= 0:
        if at + key_len > end:
            return None
        key, at = data[at : at + key_len], at + key_len
    if value_len >= 0:
        if at + value_len > end:
            return None
        value, at = data[at : at + value_len], at + value_len
    headers: list[tuple[str, bytes | None]] = []
    for _ in range(count):
        if at + _HEADER.size > end:
            return None
        name_len, header_len = _HEADER.unpack_from(data, at)
        at += _HEADER.size
        if at + name_len + max(header_len, 0) > end:
            return None
        name, at = data[at : at + name_len].decode(), at + name_len
        header = None
        if header_len >= 0:
            header, at = data[at : at + header_len], at + header_len
        headers.append((name, header))
    return Record(offset, ts_type, timestamp, key, value, tuple(headers)), at


def decode(chunks: Iterable[bytes]) -> Iterator[Record]:
    """The records of an object's chunks, in order; a record cut by the end fails.
    Each chunk is decoded where it is (a record across two chunks is joined)."""
    pending = b""
    for chunk in chunks:
        data = pending + chunk if pending else chunk
        at = 0
        while (found := _record_at(data, at)) is not None:
            record, at = found
            yield record
        pending = data[at:]
    if pending:
        raise BackupError("a records object ends inside a record (truncated)")


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

    def add_encoded(self, data: bytes | bytearray, records: int) -> None:
        """`records` records whose hashed encodings (`encode_parts`' second and third
        parts, one after the other) are `data`: the same as adding them one by one."""
        self.count += records
        self._digest.update(data)

    def facts(self) -> dict[str, int | str]:
        return {"records": self.count, "sha256": self._digest.hexdigest()}
