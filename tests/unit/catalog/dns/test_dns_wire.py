"""The query decoder and the name writer, checked against dnspython's own codec."""

from __future__ import annotations

import contextlib
import struct

import dns.edns
import dns.message
import dns.name
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leapfrog.catalog.dns._wire import (
    DnsFormatError,
    NameWriter,
    RRType,
    decode_query,
    read_header_id,
)


def test_decodes_question_and_flags() -> None:
    query = dns.message.make_query("Web.Service.consul", "SRV")
    decoded = decode_query(query.to_wire())
    assert decoded.id == query.id
    assert decoded.labels == ("Web", "Service", "consul")
    assert decoded.qtype == RRType.SRV
    assert decoded.qclass == 1
    assert decoded.opcode == 0
    assert decoded.edns is None


def test_reads_edns0_payload_version_and_do_bit() -> None:
    query = dns.message.make_query("a.consul", "A", use_edns=0, payload=4000, want_dnssec=True)
    edns = decode_query(query.to_wire()).edns
    assert edns is not None
    assert (edns.payload, edns.version, edns.dnssec_ok) == (4000, 0, True)


def test_root_question() -> None:
    assert decode_query(dns.message.make_query(".", "NS").to_wire()).labels == ()


def _header(qdcount: int = 1, arcount: int = 0, flags: int = 0x0100) -> bytes:
    return struct.pack("!HHHHHH", 7, flags, qdcount, 0, 0, arcount)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00" * 11,
        _header(qdcount=0),
        _header(qdcount=2) + b"\x01a\x00\x00\x01\x00\x01" * 2,
        _header() + b"\x01a",  # name cut short
        _header() + b"\x01a\x00\x00",  # question cut short
        _header() + b"\xc0\x0c\x00\x01\x00\x01",  # pointer to itself
        _header() + b"\x80a\x00\x00\x01\x00\x01",  # reserved label type
        _header() + b"\x3fa" + b"\x00\x00\x01\x00\x01",  # label longer than the data
        _header()
        + b"\x3f"
        + b"a" * 63
        + b"\x3f"
        + b"b" * 63
        + b"\x3f"
        + b"c" * 63
        + b"\x3f"
        + b"d" * 63
        + b"\x00\x00\x01\x00\x01",  # 256 bytes
        _header(flags=0x8000) + b"\x00\x00\x01\x00\x01",  # a response
        _header(arcount=1) + b"\x00\x00\x01\x00\x01" + b"\x00\x00\x29",  # OPT cut short
        _header(arcount=2)
        + b"\x00\x00\x01\x00\x01"
        + (b"\x00\x00\x29\x10\x00\x00\x00\x00\x00\x00\x00") * 2,  # two OPTs
        _header(arcount=1)
        + b"\x00\x00\x01\x00\x01"
        + b"\x01x\x00\x00\x29\x10\x00\x00\x00\x00\x00\x00\x00",  # OPT not at the root
    ],
)
def test_malformed_queries_raise_format_error(data: bytes) -> None:
    with pytest.raises(DnsFormatError):
        decode_query(data)


def test_header_reader_ignores_responses_and_scraps() -> None:
    assert read_header_id(b"\x00" * 5) is None
    assert read_header_id(_header(flags=0x8000)) is None
    assert read_header_id(_header()) == (7, 0x0100)


def test_name_writer_compresses_repeated_suffixes_case_insensitively() -> None:
    buf = bytearray(b"\x00" * 12)
    writer = NameWriter(buf)
    writer.write(("web", "service", "consul"))
    first = len(buf)
    writer.write(("Other", "SERVICE", "consul"))
    assert len(buf) - first == 1 + 5 + 2  # "Other" then a pointer
    writer.write(("x", "y"), compress=False)
    writer.write(("web", "service", "consul"))
    assert buf[-2:] == b"\xc0\x0c"
    name, _ = dns.name.from_wire(bytes(buf), first)
    assert name == dns.name.from_text("other.service.consul")  # equal ignoring case


def test_name_writer_rolls_back_to_a_snapshot() -> None:
    writer = NameWriter(bytearray(b"\x00" * 12))
    state = writer.snapshot()
    writer.write(("a", "consul"))
    writer.restore(state)
    writer.write(("b", "consul"))
    assert bytes(writer.buffer[12:]) == b"\x01b\x06consul\x00"


def test_name_writer_rejects_oversized_labels() -> None:
    with pytest.raises(ValueError, match="63"):
        NameWriter(bytearray()).write(("a" * 64,))


def _never_raises_but_format_error(data: bytes) -> None:
    with contextlib.suppress(DnsFormatError):
        decode_query(data)


@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=600))
def test_fuzz_random_bytes(data: bytes) -> None:
    _never_raises_but_format_error(data)


_SEEDS = [
    dns.message.make_query("web.service.consul", "SRV").to_wire(),
    dns.message.make_query("v1.web.service.dc1.consul", "A", use_edns=0).to_wire(),
    dns.message.make_query(
        "_web._tcp.service.consul",
        "ANY",
        use_edns=0,
        options=[dns.edns.GenericOption(10, b"x" * 8)],
    ).to_wire(),
]


@settings(max_examples=3000, deadline=None)
@given(
    st.sampled_from(_SEEDS),
    st.lists(st.tuples(st.integers(0, 600), st.integers(0, 255)), max_size=8),
    st.integers(0, 600),
    st.binary(max_size=40),
)
def test_fuzz_mutated_valid_queries(
    seed: bytes, flips: list[tuple[int, int]], cut: int, tail: bytes
) -> None:
    data = bytearray(seed)
    for position, value in flips:
        if position < len(data):
            data[position] = value
    _never_raises_but_format_error(bytes(data[: max(cut, 12)]) + tail)
    _never_raises_but_format_error(bytes(data))


_LABEL = st.text(alphabet="abcXYZ019-_", min_size=1, max_size=20)


@settings(max_examples=500, deadline=None)
@given(
    st.lists(_LABEL, min_size=1, max_size=6),
    st.sampled_from(["A", "AAAA", "SRV", "ANY", "TXT", "SOA"]),
    st.none() | st.integers(512, 65535),
)
def test_round_trip_of_queries_dnspython_builds(
    labels: list[str], rdtype: str, payload: int | None
) -> None:
    query = dns.message.make_query(
        ".".join(labels), rdtype, use_edns=payload is not None, payload=payload or 1232
    )
    decoded = decode_query(query.to_wire())
    assert decoded.labels == tuple(labels)
    assert decoded.qtype == query.question[0].rdtype
    assert (decoded.edns.payload if decoded.edns else None) == payload
