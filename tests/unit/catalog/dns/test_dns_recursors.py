"""Consul's `recursors`: names outside the domain are asked upstream (a real DNS server on
loopback), answers and NXDOMAIN passed through, SERVFAIL in bounded time when no
recursor answers, the catalog's own names never forwarded.

Upstream servers listen on 127.0.0.1 at free ports."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Sequence

import dns.asyncquery
import dns.flags
import dns.message
import dns.rcode
import pytest
from dns_fakes import FakeView, instance

from leapfrog.catalog.dns import Recursor, parse_recursor, start_dns
from leapfrog.shared.errors import LeapfrogError
from leapfrog.testing import UpstreamDns


async def _ask(
    recursors: Sequence[Recursor], name: str, *, tcp: bool = False, timeout: float = 5
) -> dns.message.Message:
    view = FakeView()
    view.add("web", instance("10.1.2.3", 8080))
    server = await start_dns(view, "127.0.0.1", 0, recursors=recursors, recursor_timeout=timeout)
    try:
        query = dns.message.make_query(name, "A")
        ask = dns.asyncquery.tcp if tcp else dns.asyncquery.udp
        return await ask(query, "127.0.0.1", port=server.port, timeout=10)
    finally:
        await server.close()


def _recursor(upstream: UpstreamDns) -> Recursor:
    return Recursor(upstream.host, upstream.port)


@pytest.mark.parametrize("tcp", [False, True])
def test_outside_names_are_answered_by_the_recursor(tcp: bool) -> None:
    with UpstreamDns("127.0.0.1", records={"db.example.test": "192.0.2.7"}) as upstream:
        reply = asyncio.run(_ask([_recursor(upstream)], "db.example.test", tcp=tcp))
    assert reply.rcode() == dns.rcode.NOERROR
    assert [r.address for r in reply.answer[0]] == ["192.0.2.7"]
    assert upstream.questions == ["db.example.test."]


def test_nxdomain_is_passed_through_not_retried_elsewhere() -> None:
    with (
        UpstreamDns("127.0.0.1") as first,
        UpstreamDns("127.0.0.1", records={"x.test": "192.0.2.1"}) as second,
    ):
        reply = asyncio.run(_ask([_recursor(first), _recursor(second)], "x.test"))
    assert reply.rcode() == dns.rcode.NXDOMAIN
    assert second.questions == []


def test_the_next_recursor_is_asked_when_one_is_silent() -> None:
    with (
        UpstreamDns("127.0.0.1", silent=["x.test"]) as silent,
        UpstreamDns("127.0.0.1", records={"x.test": "192.0.2.1"}) as second,
    ):
        reply = asyncio.run(_ask([_recursor(silent), _recursor(second)], "x.test", timeout=1.0))
    assert reply.rcode() == dns.rcode.NOERROR
    assert silent.questions == ["x.test."] and second.questions == ["x.test."]


def test_servfail_within_the_timeout_when_no_recursor_answers() -> None:
    # One that never answers, one where nothing listens at all.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as closed:
        closed.bind(("127.0.0.1", 0))
        nobody = Recursor("127.0.0.1", closed.getsockname()[1])
    with UpstreamDns("127.0.0.1", silent=["x.test"]) as silent:
        started = time.monotonic()
        reply = asyncio.run(_ask([_recursor(silent), nobody], "x.test", timeout=0.3))
        took = time.monotonic() - started
    assert reply.rcode() == dns.rcode.SERVFAIL
    assert reply.flags & dns.flags.RA
    assert took < 5  # two recursors at 0.3 s each, not the client's 10 s


def test_the_catalogs_own_names_are_never_forwarded() -> None:
    with UpstreamDns("127.0.0.1") as upstream:
        reply = asyncio.run(_ask([_recursor(upstream)], "web.service.consul"))
        missing = asyncio.run(_ask([_recursor(upstream)], "nope.service.consul"))
    assert [r.address for r in reply.answer[0]] == ["10.1.2.3"]
    assert missing.rcode() == dns.rcode.NXDOMAIN
    assert upstream.questions == []


def test_without_recursors_outside_names_are_refused() -> None:
    reply = asyncio.run(_ask([], "db.example.test"))
    assert reply.rcode() == dns.rcode.REFUSED


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.0.0.2", Recursor("10.0.0.2", 53)),
        ("10.0.0.2:5353", Recursor("10.0.0.2", 5353)),
        ("::1", Recursor("::1", 53)),
        ("[::1]:5353", Recursor("::1", 5353)),
    ],
)
def test_recursor_addresses(text: str, expected: Recursor) -> None:
    assert parse_recursor(text) == expected


@pytest.mark.parametrize("text", ["dns.example", "10.0.0.2:0", "10.0.0.2:x", "[::1]x", ""])
def test_bad_recursor_addresses_say_what_to_give(text: str) -> None:
    with pytest.raises(LeapfrogError, match="invalid recursor"):
        parse_recursor(text)
