"""Series and values per field counted from TSM files, without asking the server to
scan every point: a server's own shards (`count_server`) or those of an `influxd backup
-portable` (`count_backup`, one `.tar.gz` per shard holding `<db>/<rp>/<id>/*.tsm`).

A TSM file (InfluxDB 1.x, `tsdb/engine/tsm1`) is a 5-byte header, blocks, an index and
an 8-byte footer holding the index's offset. The index lists, per key (`<series
key>#!~#<field>`), its blocks: min and max time, offset and size. A block is a CRC32, a
type byte, the length of its timestamps (uvarint), then the timestamps: their encoding
in the high 4 bits of the first byte (uncompressed: 8 bytes each; run-length: the first
value, the delta, then the count; simple8b: the first value, then 64-bit words whose top
4 bits say how many values each holds). So a block's count of values is read from a few
bytes (a few words for simple8b) without decoding a value; only the index and the
blocks' first bytes are read.

The count equals the server's `COUNT(*)` only when every point is in one block: a key
whose blocks overlap in time (a point written twice and not yet compacted, or a
compaction's new file beside the old ones) or a shard with a tombstone (deleted points)
can hold points counted twice or not at all. Then the functions return None and the
caller counts another way.
"""

from __future__ import annotations

import functools
import itertools
import json
import mmap
import shutil
import struct
import subprocess
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

__all__ = ["count_backup", "count_server", "count_tsm"]

Spawn = Callable[..., "subprocess.Popen[bytes]"]
"""How `tar` is started: `RunControl.spawn` (killed with the run) or `subprocess.Popen`."""

_MAGIC = 0x16D116D1
_FIELD_SEPARATOR = b"#!~#"
_ENTRY = struct.Struct(">qqqI")
_WORD = struct.Struct(">Q")
_PER_SELECTOR = (240, 120, 60, 30, 20, 15, 12, 10, 8, 7, 6, 5, 4, 3, 2, 1)
"""Values packed in a simple8b word, by its selector (the word's top 4 bits)."""
_UNCOMPRESSED, _SIMPLE8B, _RLE = 0, 1, 2


class _Unusable(Exception):
    """This backup's points cannot be counted from its files exactly."""


def _uvarint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7
        if shift > 63:
            raise _Unusable("a uvarint longer than 10 bytes")


_HEAD = 5 + 10 + 9 + 10 + 10
"""Bytes of a block enough for a run-length count: CRC, type, the timestamps' length,
their header and first value, the delta and the count (uvarints of up to 10 bytes)."""


def _block_count(data: mmap.mmap, offset: int, size: int) -> int:
    """The number of values in the block at `offset` (its CRC first)."""
    head = data[offset : offset + min(size, _HEAD)]
    length, at = _uvarint(head, 5)  # after the CRC32 and the block type
    if length == 0 or at + length > size:
        raise _Unusable("a block's timestamps run past its end")
    encoding = head[at] >> 4
    if encoding == _RLE:
        _delta, after = _uvarint(head, at + 9)
        return _uvarint(head, after)[0]
    if encoding == _SIMPLE8B:
        words = data[offset + at + 9 : offset + at + length]
        if len(words) % 8:
            raise _Unusable("simple8b timestamps of a length not a multiple of 8")
        return 1 + sum(_PER_SELECTOR[word >> 60] for (word,) in _WORD.iter_unpack(words))
    if encoding == _UNCOMPRESSED:
        return (length - 1) // 8
    raise _Unusable(f"unknown timestamp encoding {encoding}")


def count_tsm(path: Path) -> dict[bytes, tuple[int, list[tuple[int, int]]]]:
    """Per key of one TSM file: its count of values and each block's (min, max) time."""
    found: dict[bytes, tuple[int, list[tuple[int, int]]]] = {}
    with path.open("rb") as file:
        if path.stat().st_size < 13:
            raise _Unusable(f"{path.name} is too short for a TSM file")
        with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
            if struct.unpack_from(">I", data, 0)[0] != _MAGIC:
                raise _Unusable(f"{path.name} is not a TSM file")
            index_end = len(data) - 8
            at = struct.unpack_from(">Q", data, index_end)[0]
            if not 5 <= at <= index_end:
                raise _Unusable(f"{path.name}: the index offset is out of the file")
            while at < index_end:
                (length,) = struct.unpack_from(">H", data, at)
                key = data[at + 2 : at + 2 + length]
                at += 2 + length + 1  # the key, then the block type
                (blocks,) = struct.unpack_from(">H", data, at)
                at += 2
                count = 0
                spans = []
                for _ in range(blocks):
                    low, high, offset, size = _ENTRY.unpack_from(data, at)
                    at += _ENTRY.size
                    count += _block_count(data, offset, size)
                    spans.append((low, high))
                found[key] = (count, spans)
    return found


def _measurement(series: bytes) -> str:
    """The measurement of a series key (`name,tag=value...`, commas and spaces in the
    name escaped with a backslash)."""
    at = 0
    while True:
        comma = series.find(b",", at)
        if comma < 0:
            name = series
            break
        if comma == 0 or series[comma - 1] != ord("\\"):
            name = series[:comma]
            break
        at = comma + 1
    return name.replace(b"\\,", b",").replace(b"\\ ", b" ").decode()


_Keys = dict[bytes, tuple[int, list[tuple[int, int]]]]


def _folder_keys(folder: Path) -> _Keys:
    """Every key of the TSM files under `folder` (one shard): its values, and its blocks'
    spans (over every file)."""
    if next(folder.rglob("*.tombstone"), None) is not None:
        raise _Unusable(f"{folder} holds deleted points")
    keys: _Keys = {}
    for tsm in sorted(folder.rglob("*.tsm")):
        for key, (count, spans) in count_tsm(tsm).items():
            before, spans_before = keys.get(key, (0, []))
            keys[key] = (before + count, spans_before + spans)
    return keys


def _archive_keys(archive: Path, spool: Path, spawn: Spawn) -> _Keys:
    """Every key of one shard's archive, unpacked by `tar` (gzip in a process of its
    own, beside the caller's work)."""
    shutil.rmtree(spool, ignore_errors=True)
    spool.mkdir()
    try:
        proc = spawn(
            ["tar", "--no-same-owner", "-xzf", str(archive), "-C", str(spool)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        _out, err = proc.communicate()
        if proc.returncode != 0:
            raise _Unusable(f"tar of {archive.name}: {err.decode(errors='replace')[:200]}")
        return _folder_keys(spool)
    finally:
        shutil.rmtree(spool, ignore_errors=True)


def _overlapping(spans: list[tuple[int, int]]) -> bool:
    ordered = sorted(spans)
    return any(low <= before[1] for before, (low, _high) in itertools.pairwise(ordered))


def _tally(
    names: list[str], shards: Iterable[tuple[str, str, Callable[[], _Keys]]]
) -> dict[str, Any] | None:
    """Per database of `names` and measurement: distinct series and values per
    `<policy>.<field>` over `shards` (database, policy, its keys); None when they
    cannot be counted exactly."""
    found: dict[str, dict[str, Any]] = {db: {} for db in names}
    series: dict[tuple[str, str], set[bytes]] = defaultdict(set)
    try:
        for db, policy, read in shards:
            if db not in found:
                continue
            for key, (count, spans) in read().items():
                if _overlapping(spans):
                    return None  # a point written twice, or a compaction under way
                serie, sep, field = key.partition(_FIELD_SEPARATOR)
                if not sep:
                    return None
                name = _measurement(serie)
                series[db, name].add(serie)
                entry = found[db].setdefault(name, {"series": 0, "values": {}})
                column = f"{policy}.{field.decode()}"
                entry["values"][column] = entry["values"].get(column, 0) + count
    except (_Unusable, OSError, ValueError, struct.error, IndexError):
        return None
    for (db, name), keys_of in series.items():
        found[db][name]["series"] = len(keys_of)
    return found


def count_backup(
    folder: Path, names: list[str], scratch: Path, spawn: Spawn = subprocess.Popen
) -> dict[str, Any] | None:
    """`_tally` of the backup in `folder` (the tool's `*.manifest` lists each shard's
    archive)."""
    listed: list[dict[str, Any]] = []
    try:
        for listing in sorted(folder.glob("*.manifest")):
            listed += json.loads(listing.read_text()).get("files") or []
    except (OSError, ValueError):
        return None
    with tempfile.TemporaryDirectory(dir=scratch) as spool:
        return _tally(
            names,
            (
                (
                    str(shard.get("database")),
                    str(shard.get("policy")),
                    functools.partial(
                        _archive_keys,
                        folder / str(shard.get("fileName")),
                        Path(spool) / "shard",
                        spawn,
                    ),
                )
                for shard in listed
            ),
        )


def count_server(data: Path, shards: dict[str, set[int]]) -> dict[str, Any] | None:
    """`_tally` of a server's own shards (`data`: its `[data] dir`, shards under
    `<db>/<policy>/<id>/`), for each database of `shards` those listed. Exact only while
    nothing is written to them (points still in the cache are in no file yet)."""
    found = []
    for db, ids in sorted(shards.items()):
        for shard in sorted(ids):
            dirs = list((data / db).glob(f"*/{shard}"))
            if len(dirs) != 1 or not dirs[0].is_dir():
                return None
            found.append((db, dirs[0].parent.name, functools.partial(_folder_keys, dirs[0])))
    return _tally(sorted(shards), found)
