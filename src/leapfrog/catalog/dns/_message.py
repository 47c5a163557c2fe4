"""Responses: records, and their encoding within a size limit (trimming sets TC).

An answer is built as groups: an answer record with the additional records that only make
sense next to it (an SRV and its target's address). Trimming drops whole groups from the
end, so a resolver never gets an SRV without its address or an address for nothing.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from leapfrog.catalog.dns._wire import HEADER, NameWriter, Query, RRType

__all__ = [
    "EDNS_PAYLOAD",
    "TCP_LIMIT",
    "UDP_LIMIT",
    "Answer",
    "Group",
    "RData",
    "Record",
    "Soa",
    "Srv",
    "Txt",
    "encode_bare",
    "encode_response",
    "most_groups_that_could_fit",
    "response_limit",
]

UDP_LIMIT = 512
EDNS_PAYLOAD = 4096
"""What this server advertises and the most it sends over UDP with EDNS0."""
TCP_LIMIT = 65535

_QR, _AA, _TC, _RD = 0x8000, 0x0400, 0x0200, 0x0100
_OPCODE_MASK = 0x7800


@dataclass(frozen=True)
class Srv:
    priority: int
    weight: int
    port: int
    target: tuple[str, ...]


@dataclass(frozen=True)
class Soa:
    mname: tuple[str, ...]
    rname: tuple[str, ...]
    serial: int
    refresh: int
    retry: int
    expire: int
    minimum: int


@dataclass(frozen=True)
class Txt:
    text: bytes
    """One string; sent as character-strings of at most 255 bytes each."""


RData = bytes | tuple[str, ...] | Srv | Soa | Txt
"""bytes for A/AAAA, a name for CNAME/NS, or a structured SRV/SOA/TXT."""


@dataclass(frozen=True)
class Record:
    owner: tuple[str, ...]
    rtype: int
    ttl: int
    data: RData


@dataclass(frozen=True)
class Group:
    answers: tuple[Record, ...]
    additional: tuple[Record, ...] = ()


@dataclass
class Answer:
    rcode: int
    authoritative: bool = True
    groups: list[Group] = field(default_factory=list)
    authority: list[Record] = field(default_factory=list)


def response_limit(query: Query, *, tcp: bool) -> int:
    if tcp:
        return TCP_LIMIT
    if query.edns is None:
        return UDP_LIMIT
    return max(UDP_LIMIT, min(query.edns.payload, EDNS_PAYLOAD))


def _write_rdata(writer: NameWriter, data: RData) -> None:
    buf = writer.buffer
    if isinstance(data, bytes):
        buf += data
    elif isinstance(data, tuple):
        writer.write(data)
    elif isinstance(data, Srv):
        buf += struct.pack("!HHH", data.priority, data.weight, data.port)
        writer.write(data.target, compress=False)  # RFC 2782: targets are not compressed
    elif isinstance(data, Txt):
        text = data.text
        for start in range(0, max(len(text), 1), 255):
            chunk = text[start : start + 255]
            buf.append(len(chunk))
            buf += chunk
    else:
        writer.write(data.mname)
        writer.write(data.rname)
        buf += struct.pack(
            "!IIIII", data.serial, data.refresh, data.retry, data.expire, data.minimum
        )


def _write_record(writer: NameWriter, record: Record) -> None:
    buf = writer.buffer
    writer.write(record.owner)
    buf += struct.pack("!HHI", record.rtype, 1, record.ttl)
    length_at = len(buf)
    buf += b"\0\0"
    _write_rdata(writer, record.data)
    struct.pack_into("!H", buf, length_at, len(buf) - length_at - 2)


def _opt_record(rcode: int) -> bytes:
    # root owner, type OPT, class = our payload size, ttl = extended rcode | version 0
    return b"\0" + struct.pack("!HHIH", RRType.OPT, EDNS_PAYLOAD, (rcode >> 4) << 24, 0)


def _flags(query_flags: int, rcode: int, *, authoritative: bool, truncated: bool) -> int:
    flags = _QR | (query_flags & (_OPCODE_MASK | _RD)) | (rcode & 0xF)
    if authoritative:
        flags |= _AA
    if truncated:
        flags |= _TC
    return flags


def encode_bare(ident: int, query_flags: int, rcode: int) -> bytes:
    """A header-only response, for queries too broken to echo their question."""
    return HEADER.pack(
        ident, _flags(query_flags, rcode, authoritative=False, truncated=False), 0, 0, 0, 0
    )


def _encode(query: Query, answer: Answer, groups: list[Group], truncated: bool) -> bytes:
    answers = [record for group in groups for record in group.answers]
    # SRVs on one node share their target's address: send it once.
    additional = list(dict.fromkeys(r for group in groups for r in group.additional))
    flags = _flags(
        query.flags, answer.rcode, authoritative=answer.authoritative, truncated=truncated
    )
    arcount = len(additional) + (1 if query.edns is not None else 0)
    buf = bytearray(HEADER.pack(query.id, flags, 1, len(answers), len(answer.authority), arcount))
    writer = NameWriter(buf)
    writer.write(query.labels)
    buf += struct.pack("!HH", query.qtype, query.qclass)
    for record in (*answers, *answer.authority, *additional):
        _write_record(writer, record)
    if query.edns is not None:
        buf += _opt_record(answer.rcode)
    return bytes(buf)


def most_groups_that_could_fit(limit: int) -> int:
    """No record is shorter than a 1-byte owner plus type, class, TTL and length: so no
    more groups than this fit in `limit` bytes, and answers need not build more."""
    return limit // (1 + 10) + 1


def encode_response(query: Query, answer: Answer, limit: int) -> bytes:
    """The response in at most `limit` bytes: as many leading groups as fit, TC if not all."""
    cap = most_groups_that_could_fit(limit)
    if len(answer.groups) <= cap:
        full = _encode(query, answer, answer.groups, truncated=False)
        if len(full) <= limit:
            return full
        probe_k, probe_size = len(answer.groups), len(full)
    else:
        probe_k = min(64, cap)
        probe_size = len(_encode(query, answer, answer.groups[:probe_k], truncated=True))
    return _trimmed(query, answer, limit, probe_k, probe_size)


def _trimmed(query: Query, answer: Answer, limit: int, probe_k: int, probe_size: int) -> bytes:
    best = _encode(query, answer, [], truncated=True)
    base = len(best)
    fits = 0
    too_many = min(len(answer.groups), most_groups_that_could_fit(limit)) + 1
    if probe_size <= limit:
        fits, best = probe_k, _encode(query, answer, answer.groups[:probe_k], truncated=True)
    else:
        too_many = probe_k
    steps = 0
    while too_many - fits > 1:
        steps += 1
        if steps <= 4 and probe_size > base:
            # Groups are mostly alike, so the last measure aims close to the limit at once.
            middle = probe_k * (limit - base) // (probe_size - base)
        else:
            middle = (fits + too_many) // 2  # never worse than a binary search
        middle = max(fits + 1, min(too_many - 1, middle))
        attempt = _encode(query, answer, answer.groups[:middle], truncated=True)
        probe_k, probe_size = middle, len(attempt)
        if len(attempt) <= limit:
            fits, best = middle, attempt
        else:
            too_many = middle
    return best
