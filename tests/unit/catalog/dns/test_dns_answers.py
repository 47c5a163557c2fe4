"""Answers from a fake catalog, read back with dnspython's parser."""

from __future__ import annotations

import logging

import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdatatype
import pytest
from dns_fakes import FakeView, ask, instance, responder, rrset_texts, standard_view
from hypothesis import given, settings
from hypothesis import strategies as st


def test_service_a_records_are_authoritative_with_ttl_zero() -> None:
    reply = ask(responder(), "web.service.consul")
    assert reply.rcode() == dns.rcode.NOERROR
    assert reply.flags & dns.flags.AA
    assert not reply.flags & dns.flags.TC
    assert rrset_texts(reply.answer, "A") == ["127.0.0.1", "127.0.0.2"]
    assert all(rrset.ttl == 0 for rrset in reply.answer)


def test_ttl_is_configurable() -> None:
    reply = ask(responder(ttl=30), "web.service.consul")
    assert {rrset.ttl for rrset in reply.answer} == {30}


@pytest.mark.parametrize(
    "name", ["WEB.Service.CONSUL", "web.service.dc1.consul", "web.service.DC1.consul."]
)
def test_names_are_case_insensitive_and_take_the_local_datacenter(name: str) -> None:
    reply = ask(responder(), name)
    assert reply.question[0].name.to_text().rstrip(".") == name.rstrip(".")
    assert rrset_texts(reply.answer, "A") == ["127.0.0.1", "127.0.0.2"]


def test_tag_filters_instances() -> None:
    assert rrset_texts(ask(responder(), "v1.web.service.consul").answer, "A") == ["127.0.0.1"]
    assert rrset_texts(ask(responder(), "V2.web.service.consul").answer, "A") == ["127.0.0.2"]


def test_srv_targets_node_or_addr_with_addresses_in_additional() -> None:
    reply = ask(responder(), "web.service.consul", "SRV")
    assert rrset_texts(reply.answer, "SRV") == [
        "1 1 8080 node1.node.dc1.consul.",
        "1 3 8081 7f000002.addr.dc1.consul.",
    ]
    additional = {rrset.name.to_text(): rrset_texts([rrset], "A") for rrset in reply.additional}
    assert additional == {
        "node1.node.dc1.consul.": ["127.0.0.1"],
        "7f000002.addr.dc1.consul.": ["127.0.0.2"],
    }


def test_srv_target_on_another_node() -> None:
    reply = ask(responder(), "api.service.consul", "SRV")
    assert rrset_texts(reply.answer, "SRV") == ["1 1 9000 node2.node.dc1.consul."]
    assert rrset_texts(reply.additional, "A") == ["127.0.0.5"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "_web._tcp.service.consul",
            ["1 1 8080 node1.node.dc1.consul.", "1 3 8081 7f000002.addr.dc1.consul."],
        ),
        ("_web._v2.service.consul", ["1 3 8081 7f000002.addr.dc1.consul."]),
        (
            "_web._tcp.service.dc1.consul",
            ["1 1 8080 node1.node.dc1.consul.", "1 3 8081 7f000002.addr.dc1.consul."],
        ),
    ],
)
def test_rfc2782_forms(name: str, expected: list[str]) -> None:
    assert rrset_texts(ask(responder(), name, "SRV").answer, "SRV") == expected


def test_addr_names_resolve_on_their_own() -> None:
    reply = ask(responder(), "7f000102.addr.dc1.consul")
    assert rrset_texts(reply.answer, "A") == ["127.0.1.2"]
    v6 = ask(responder(), "00000000000000000000000000000001.addr.consul", "AAAA")
    assert rrset_texts(v6.answer, "AAAA") == ["::1"]


def test_node_lookup() -> None:
    assert rrset_texts(ask(responder(), "Node2.node.consul").answer, "A") == ["127.0.0.5"]
    assert rrset_texts(ask(responder(), "node1.node.dc1.consul").answer, "A") == ["127.0.0.1"]


def test_ipv6_instances_answer_aaaa_and_host_names_a_cname() -> None:
    assert rrset_texts(ask(responder(), "v6.service.consul", "AAAA").answer, "AAAA") == ["::1"]
    cname = ask(responder(), "named.service.consul").answer
    assert rrset_texts(cname, "CNAME") == ["db.example.com."]
    srv = ask(responder(), "named.service.consul", "SRV")
    assert rrset_texts(srv.answer, "SRV") == ["1 1 5432 db.example.com."]


def _has_soa(reply: dns.message.Message) -> bool:
    soa = [rrset for rrset in reply.authority if rrset.rdtype == dns.rdatatype.SOA]
    return len(soa) == 1 and soa[0].name.to_text() == "consul."


@pytest.mark.parametrize(
    "name",
    [
        "nope.service.consul",
        "empty.service.consul",  # registered, but no healthy instance
        "v9.web.service.consul",  # no instance with that tag
        "web.service.dc2.consul",  # another datacenter
        "nobody.node.consul",
        "zz.addr.consul",
        "what.consul",
        "web.query.consul",
        "_web.service.consul",
        "a.b.service.dc1.x.consul",
    ],
)
def test_nxdomain_with_soa(name: str) -> None:
    reply = ask(responder(), name)
    assert reply.rcode() == dns.rcode.NXDOMAIN
    assert reply.flags & dns.flags.AA
    assert not reply.answer
    assert _has_soa(reply)


@pytest.mark.parametrize(
    ("name", "rdtype"),
    [
        ("web.service.consul", "AAAA"),
        ("node1.node.consul", "MX"),
        ("node1.node.consul", "TXT"),  # a node without meta
        ("7f000001.addr.consul", "AAAA"),
        ("consul", "A"),
    ],
)
def test_known_name_other_type_is_empty_noerror_with_soa(name: str, rdtype: str) -> None:
    reply = ask(responder(), name, rdtype)
    assert reply.rcode() == dns.rcode.NOERROR
    assert not reply.answer
    assert _has_soa(reply)


def test_apex_answers_soa_and_ns() -> None:
    (soa,) = ask(responder(), "consul", "SOA").answer
    assert soa[0].mname.to_text() == "ns.consul."  # Consul's primary, whatever the node
    assert soa[0].rname.to_text() == "hostmaster.consul."
    ns = ask(responder(), "consul", "NS")
    assert rrset_texts(ns.answer, "NS") == ["node1.node.dc1.consul."]
    assert rrset_texts(ns.additional, "A") == ["127.0.0.1"]


def test_any_returns_addresses() -> None:
    reply = ask(responder(), "web.service.consul", "ANY")
    assert rrset_texts(reply.answer, "A") == ["127.0.0.1", "127.0.0.2"]


@pytest.mark.parametrize("name", ["example.com", "consul.example.com", "."])
def test_names_outside_the_domain_are_refused(name: str) -> None:
    reply = ask(responder(), name)
    assert reply.rcode() == dns.rcode.REFUSED
    assert not reply.flags & dns.flags.AA


def test_other_opcodes_are_not_implemented() -> None:
    query = dns.message.make_query("web.service.consul", "A")
    query.set_opcode(dns.opcode.NOTIFY)
    wire = responder().respond(query.to_wire(), tcp=False)
    assert wire is not None
    assert dns.message.from_wire(wire).rcode() == dns.rcode.NOTIMP


def test_unknown_edns_version_is_badvers() -> None:
    reply = ask(responder(), "web.service.consul", use_edns=1)
    assert reply.rcode() == dns.rcode.BADVERS


def test_garbage_with_a_header_gets_formerr_and_scraps_get_nothing() -> None:
    wire = responder().respond(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x05ab", tcp=False)
    assert wire is not None
    reply = dns.message.from_wire(wire)
    assert (reply.id, reply.rcode()) == (0x1234, dns.rcode.FORMERR)
    assert responder().respond(b"\x12\x34", tcp=False) is None
    response = dns.message.make_response(dns.message.make_query("a.consul", "A")).to_wire()
    assert responder().respond(response, tcp=False) is None


class _BrokenView(FakeView):
    def dns_instances(self, service: str, tag: str | None) -> None:
        raise RuntimeError("store exploded")


def test_view_errors_answer_servfail_and_are_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = responder(_BrokenView())
    with caplog.at_level(logging.ERROR, logger="leapfrog.catalog.dns"):
        for _ in range(3):
            assert ask(broken, "web.service.consul").rcode() == dns.rcode.SERVFAIL
    assert broken.failures == 3
    logged = [r for r in caplog.records if "store exploded" in str(r.exc_info)]
    assert len(logged) == 1
    assert ask(broken, "node1.node.consul").rcode() == dns.rcode.NOERROR


def _many(count: int) -> FakeView:
    view = FakeView()
    for i in range(count):
        view.add("big", instance(f"10.0.{i // 250}.{i % 250 + 1}", 1000 + i, node=f"n{i}"))
    return view


def _check_srv_pairs(reply: dns.message.Message) -> int:
    """Every SRV target has its address, and no address is there for nothing."""
    targets = {rd.target for rrset in reply.answer for rd in rrset}
    addressed = {rrset.name for rrset in reply.additional if rrset.rdtype == dns.rdatatype.A}
    assert targets == addressed
    return len(targets)


def test_udp_without_edns_stays_within_512_bytes_and_sets_tc() -> None:
    query = dns.message.make_query("big.service.consul", "SRV")
    wire = responder(_many(200)).respond(query.to_wire(), tcp=False)
    assert wire is not None
    assert len(wire) <= 512
    reply = dns.message.from_wire(wire)
    assert reply.flags & dns.flags.TC
    assert 0 < _check_srv_pairs(reply) < 200


@pytest.mark.parametrize(("payload", "limit"), [(100, 512), (1400, 1400), (65000, 4096)])
def test_udp_with_edns_uses_the_advertised_size_within_bounds(payload: int, limit: int) -> None:
    query = dns.message.make_query("big.service.consul", "SRV", use_edns=0, payload=payload)
    wire = responder(_many(200)).respond(query.to_wire(), tcp=False)
    assert wire is not None
    assert limit - 120 < len(wire) <= limit
    reply = dns.message.from_wire(wire)
    assert reply.flags & dns.flags.TC
    assert reply.edns == 0
    _check_srv_pairs(reply)


def test_tcp_carries_the_full_answer() -> None:
    query = dns.message.make_query("big.service.consul", "SRV")
    wire = responder(_many(600)).respond(query.to_wire(), tcp=True)
    assert wire is not None
    assert len(wire) > 20000  # far beyond any UDP size
    reply = dns.message.from_wire(wire)
    assert not reply.flags & dns.flags.TC
    assert _check_srv_pairs(reply) == 600


def test_tcp_answers_beyond_64k_are_trimmed_with_tc() -> None:
    query = dns.message.make_query("big.service.consul", "SRV")
    wire = responder(_many(3000)).respond(query.to_wire(), tcp=True)
    assert wire is not None
    assert 60000 < len(wire) <= 65535
    assert dns.message.from_wire(wire).flags & dns.flags.TC


def test_a_answers_fit_exactly_when_small() -> None:
    reply = ask(responder(_many(3)), "big.service.consul")
    assert not reply.flags & dns.flags.TC
    assert len(rrset_texts(reply.answer, "A")) == 3


def test_instances_are_shuffled() -> None:
    view = _many(20)
    orders = {
        tuple(
            rd.address
            for rrset in ask(responder(view), "big.service.consul").answer
            for rd in rrset
        )
        for _ in range(20)
    }
    assert len(orders) > 1


def test_standard_view_has_every_kind_of_instance() -> None:
    view = standard_view()
    assert view.dns_instances("WEB", "PRIMARY") == [instance("127.0.0.1", 8080)]


_SEEDS = [
    dns.message.make_query("web.service.consul", "SRV", use_edns=0).to_wire(),
    dns.message.make_query("v1.web.service.dc1.consul", "A").to_wire(),
    dns.message.make_query("7f000102.addr.consul", "ANY").to_wire(),
]
_FUZZ_RESPONDER = responder()


@settings(max_examples=2000, deadline=None)
@given(
    st.sampled_from(_SEEDS),
    st.lists(st.tuples(st.integers(0, 80), st.integers(0, 255)), max_size=6),
)
def test_fuzz_responder_answers_parse_or_stay_silent(
    seed: bytes, flips: list[tuple[int, int]]
) -> None:
    data = bytearray(seed)
    for position, value in flips:
        if position < len(data):
            data[position] = value
    wire = _FUZZ_RESPONDER.respond(bytes(data), tcp=False)
    if wire is not None:
        assert len(wire) <= 512
        reply = dns.message.from_wire(wire)
        assert reply.flags & dns.flags.QR
    assert _FUZZ_RESPONDER.failures == 0


def test_srv_targets_a_service_with_its_own_address_by_that_address() -> None:
    """Consul targets any service registered with an IP of its own as <hex>.addr, even
    when it is its node's address; only one without an address targets the node."""
    view = FakeView()
    view.add("own", instance("127.0.0.1", 8080, own_address=True))
    view.add("bare", instance("127.0.0.1", 8081, own_address=False))
    own = ask(responder(view), "own.service.consul", "SRV")
    assert rrset_texts(own.answer, "SRV") == ["1 1 8080 7f000001.addr.dc1.consul."]
    assert [r.name.to_text() for r in own.additional] == ["7f000001.addr.dc1.consul."]
    assert rrset_texts(own.additional, "A") == ["127.0.0.1"]
    bare = ask(responder(view), "bare.service.consul", "SRV")
    assert rrset_texts(bare.answer, "SRV") == ["1 1 8081 node1.node.dc1.consul."]


def test_node_meta_answers_txt_as_consul_does() -> None:
    view = standard_view()
    view.meta["node1"] = {"env": "prod", "a=b": "c`d", " sp": "x", "rfc1035-raw": "as is"}
    txt = ask(responder(view), "node1.node.consul", "TXT")
    assert rrset_texts(txt.answer, "TXT") == sorted(
        ['"env=prod"', '"a`=b=c``d"', '"` sp=x"', '"as is"']
    )
    a = ask(responder(view), "node1.node.consul", "A")
    assert rrset_texts(a.answer, "A") == ["127.0.0.1"]
    assert len(rrset_texts(a.additional, "TXT")) == 4
    srv = ask(responder(view), "web.service.consul", "SRV")
    meta = [r for r in srv.additional if r.rdtype == dns.rdatatype.TXT]
    assert {r.name.to_text() for r in meta} == {"node1.node.dc1.consul."}


def test_txt_on_a_service_answers_its_addresses_as_consul_does() -> None:
    reply = ask(responder(), "web.service.consul", "TXT")
    assert rrset_texts(reply.answer, "A") == ["127.0.0.1", "127.0.0.2"]


def test_addr_name_with_whitespace_is_nxdomain_not_a_failure() -> None:
    """Found by the fuzz test: "f0 01 02" passed bytes.fromhex as three bytes."""
    reply = ask(responder(), "f0\\03201\\03202.addr.consul", "ANY")
    assert reply.rcode() == dns.rcode.NXDOMAIN
