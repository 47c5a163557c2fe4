"""Trimming keeps the most leading groups that fit, whatever their sizes; start_dns checks."""

from __future__ import annotations

import asyncio

import dns.message
import dns.rcode
import pytest
from dns_fakes import FakeView, ask, instance
from hypothesis import given, settings
from hypothesis import strategies as st

from leapfrog.catalog.dns import start_dns
from leapfrog.catalog.dns._answers import Zone
from leapfrog.catalog.dns._message import Answer, Group, Record, encode_response
from leapfrog.catalog.dns._responder import Responder
from leapfrog.catalog.dns._wire import Rcode, RRType, decode_query
from leapfrog.shared.errors import LeapfrogError

_QUERY = decode_query(dns.message.make_query("x.service.consul", "SRV").to_wire())


def _group(index: int, extra: int) -> Group:
    owner = ("x", "service", "consul")
    answer = Record(owner, RRType.NS, 0, (f"t{index}", "consul"))
    additional = tuple(
        Record((f"t{index}", "consul"), RRType.A, 0, bytes([10, 0, index % 256, n % 256]))
        for n in range(extra)
    )
    return Group((answer,), additional)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 12), min_size=0, max_size=120), st.sampled_from([512, 1400]))
def test_trimming_keeps_exactly_the_leading_groups_that_fit(extras: list[int], limit: int) -> None:
    answer = Answer(Rcode.NOERROR, groups=[_group(i, n) for i, n in enumerate(extras)])
    wire = encode_response(_QUERY, answer, limit)
    assert len(wire) <= limit
    reply = dns.message.from_wire(wire)
    kept = sum(len(rrset) for rrset in reply.answer)
    truncated = bool(reply.flags & dns.flags.TC)
    assert truncated == (kept < len(extras))
    if truncated:  # one more group would not have fitted
        longer = Answer(Rcode.NOERROR, groups=answer.groups[: kept + 1])
        assert len(encode_response(_QUERY, longer, 1 << 20)) > limit


def test_another_domain_and_datacenter() -> None:
    view = FakeView(datacenter="Lab")
    view.add("web", instance("127.0.0.9", 80))
    responder = Responder(view, Zone(("leapfrog", "local"), 0))
    reply = ask(responder, "web.service.lab.leapfrog.local", "SRV")
    assert [rd.target.to_text() for rrset in reply.answer for rd in rrset] == [
        "7f000009.addr.Lab.leapfrog.local."
    ]
    assert ask(responder, "web.service.consul").rcode() == dns.rcode.REFUSED


@pytest.mark.parametrize(("domain", "ttl"), [("", 0), ("x" * 64, 0), ("consul", -1)])
def test_start_dns_rejects_bad_settings(domain: str, ttl: int) -> None:
    with pytest.raises(LeapfrogError):
        asyncio.run(start_dns(FakeView(), "127.0.0.1", 0, domain=domain, ttl=ttl))
