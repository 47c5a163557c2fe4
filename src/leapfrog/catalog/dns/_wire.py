"""DNS wire format (RFC 1035, RFC 6891): decoding queries and writing names with compression.

The decoder reads only what a server needs from a query and reports every malformation
as `DnsFormatError`, whatever the bytes: the server turns that into FORMERR or silence.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = [
    "HEADER",
    "DnsFormatError",
    "Edns",
    "NameWriter",
    "Query",
    "RRType",
    "Rcode",
    "decode_query",
    "read_header_id",
    "split_name",
]

HEADER = struct.Struct("!HHHHHH")
_RR_FIXED = struct.Struct("!HHIH")
_MAX_NAME = 255
_MAX_LABEL = 63
_POINTER_LIMIT = 64  # more jumps than labels fit in 255 bytes means a loop


class RRType:
    A = 1
    NS = 2
    CNAME = 5
    SOA = 6
    TXT = 16
    AAAA = 28
    SRV = 33
    OPT = 41
    IXFR = 251
    AXFR = 252
    ANY = 255


class Rcode:
    NOERROR = 0
    FORMERR = 1
    SERVFAIL = 2
    NXDOMAIN = 3
    NOTIMP = 4
    REFUSED = 5
    BADVERS = 16  # extended: high 8 bits travel in the OPT record


CLASS_IN = 1
CLASS_ANY = 255


class DnsFormatError(Exception):
    """The bytes are not a DNS query this server can read."""


@dataclass(frozen=True)
class Edns:
    payload: int
    """The UDP payload size the client advertised (raw, not yet clamped)."""
    version: int
    dnssec_ok: bool


@dataclass(frozen=True)
class Query:
    id: int
    flags: int
    """The request's header flags word, as received."""
    labels: tuple[str, ...]
    """The question name's labels, case as received (empty for the root)."""
    qtype: int
    qclass: int
    edns: Edns | None

    @property
    def name(self) -> str:
        return ".".join(self.labels)

    @property
    def opcode(self) -> int:
        return (self.flags >> 11) & 0xF


def read_header_id(data: bytes) -> tuple[int, int] | None:
    """(id, flags) when `data` holds at least a header and is not itself a response."""
    if len(data) < HEADER.size:
        return None
    ident, flags = struct.unpack_from("!HH", data)
    if flags & 0x8000:
        return None  # never answer answers: that is how reflection loops start
    return ident, flags


def _read_name(data: bytes, offset: int) -> tuple[tuple[str, ...], int]:
    """The name at `offset` and the offset just past it in the original stream."""
    labels: list[str] = []
    length = 0
    end: int | None = None
    jumps = 0
    while True:
        if offset >= len(data):
            raise DnsFormatError("name runs past the end of the message")
        size = data[offset]
        if size & 0xC0 == 0xC0:
            if offset + 1 >= len(data):
                raise DnsFormatError("truncated compression pointer")
            jumps += 1
            if jumps > _POINTER_LIMIT:
                raise DnsFormatError("compression pointer loop")
            if end is None:
                end = offset + 2
            offset = ((size & 0x3F) << 8) | data[offset + 1]
            continue
        if size & 0xC0:
            raise DnsFormatError("unknown label type")
        offset += 1
        if size == 0:
            break
        label = data[offset : offset + size]
        if len(label) != size:
            raise DnsFormatError("label runs past the end of the message")
        length += size + 1
        if length > _MAX_NAME:
            raise DnsFormatError("name longer than 255 bytes")
        # latin-1 maps every byte to one character, so any label round-trips.
        labels.append(label.decode("latin-1"))
        offset += size
    return tuple(labels), (end if end is not None else offset)


def _read_rr_header(data: bytes, offset: int) -> tuple[bool, int, int, int, int, int]:
    """(owner is root, type, class, ttl, rdata offset, rdata length) of the record there."""
    name, offset = _read_name(data, offset)
    if offset + _RR_FIXED.size > len(data):
        raise DnsFormatError("record header runs past the end of the message")
    rtype, rclass, ttl, rdlength = _RR_FIXED.unpack_from(data, offset)
    offset += _RR_FIXED.size
    if offset + rdlength > len(data):
        raise DnsFormatError("record data runs past the end of the message")
    return not name, rtype, rclass, ttl, offset, rdlength


def decode_query(data: bytes) -> Query:
    """The single question and EDNS0 options of a query; raises only DnsFormatError."""
    if len(data) < HEADER.size:
        raise DnsFormatError("shorter than a DNS header")
    ident, flags, qdcount, ancount, nscount, arcount = HEADER.unpack_from(data)
    if flags & 0x8000:
        raise DnsFormatError("a response, not a query")
    if qdcount != 1:
        raise DnsFormatError(f"{qdcount} questions (exactly one is supported)")
    labels, offset = _read_name(data, HEADER.size)
    if offset + 4 > len(data):
        raise DnsFormatError("question runs past the end of the message")
    qtype, qclass = struct.unpack_from("!HH", data, offset)
    offset += 4
    edns: Edns | None = None
    for index in range(ancount + nscount + arcount):
        at_root, rtype, rclass, ttl, rdata, rdlength = _read_rr_header(data, offset)
        offset = rdata + rdlength
        if rtype != RRType.OPT:
            continue
        if index < ancount + nscount or edns is not None or not at_root:
            raise DnsFormatError("misplaced, repeated or non-root OPT record")
        edns = Edns(payload=rclass, version=(ttl >> 16) & 0xFF, dnssec_ok=bool(ttl & 0x8000))
    return Query(ident, flags, labels, qtype, qclass, edns)


def _label_bytes(label: str) -> bytes:
    try:
        return label.encode("latin-1")  # question labels were decoded as latin-1
    except UnicodeEncodeError:
        return label.encode("utf-8")


def split_name(name: str) -> tuple[str, ...]:
    return tuple(label for label in name.split(".") if label)


class NameWriter:
    """Appends names to a growing message, pointing back to suffixes already written."""

    def __init__(self, buffer: bytearray) -> None:
        self.buffer = buffer
        self._offsets: dict[tuple[str, ...], int] = {}

    def snapshot(self) -> tuple[int, dict[tuple[str, ...], int]]:
        return len(self.buffer), dict(self._offsets)

    def restore(self, state: tuple[int, dict[tuple[str, ...], int]]) -> None:
        size, offsets = state
        del self.buffer[size:]
        self._offsets = offsets

    def write(self, labels: tuple[str, ...], *, compress: bool = True) -> None:
        for index in range(len(labels)):
            # Names compare case-insensitively, so one suffix serves every spelling.
            suffix = tuple(label.lower() for label in labels[index:])
            pointer = self._offsets.get(suffix)
            if pointer is not None and compress:
                self.buffer += struct.pack("!H", 0xC000 | pointer)
                return
            if len(self.buffer) < 0x4000:
                self._offsets[suffix] = len(self.buffer)
            raw = _label_bytes(labels[index])
            if not 0 < len(raw) <= _MAX_LABEL:
                raise ValueError(f"label not 1..63 bytes: {labels[index]!r}")
            self.buffer.append(len(raw))
            self.buffer += raw
        self.buffer.append(0)
