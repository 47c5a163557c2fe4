"""The real DNS server on 127.0.0.1, asked by the real `dig` and by dnspython."""

from __future__ import annotations

import asyncio
import random
import re
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from leapfrog.catalog.dns import DnsInstance, DnsServer, start_dns
from leapfrog.catalog.dns import _server as server_module
from leapfrog.shared.errors import LeapfrogError

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

BIG = 300


@dataclass
class _View:
    datacenter: str = "dc1"
    node_name: str = "node1"
    nodes: dict[str, str] = field(default_factory=dict)
    services: dict[str, list[tuple[DnsInstance, tuple[str, ...]]]] = field(default_factory=dict)

    def dns_instances(self, service: str, tag: str | None) -> list[DnsInstance] | None:
        entries = self.services.get(service.lower())
        if entries is None:
            return None
        return [i for i, tags in entries if tag is None or tag.lower() in tags]

    def node_address(self, node: str) -> str | None:
        return self.nodes.get(node.lower())

    def node_meta(self, node: str) -> dict[str, str]:
        return {}


def _view() -> _View:
    view = _View(nodes={"node1": "127.0.0.1", "node2": "127.0.0.5"})
    view.services["web"] = [
        (DnsInstance("node1", "127.0.0.1", "127.0.0.1", 8080, 1, own_address=False), ("v1",)),
        (DnsInstance("node1", "127.0.0.1", "127.0.0.2", 8081, 5), ("v2",)),
    ]
    view.services["api"] = [
        (DnsInstance("node2", "127.0.0.5", "127.0.0.5", 9000, 1, own_address=False), ())
    ]
    view.services["down"] = []
    view.services["big"] = [
        (DnsInstance(f"n{i}", "127.0.0.1", f"10.1.{i // 250}.{i % 250 + 1}", 2000 + i, 1), ())
        for i in range(BIG)
    ]
    return view


@dataclass
class Running:
    server: DnsServer
    loop: asyncio.AbstractEventLoop

    @property
    def port(self) -> int:
        return self.server.port


@pytest.fixture(scope="module")
def running() -> Iterator[Running]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="dns-test-loop", daemon=True)
    thread.start()
    started = asyncio.run_coroutine_threadsafe(start_dns(_view(), "127.0.0.1", 0), loop)
    server = started.result(timeout=30)
    yield Running(server, loop)
    asyncio.run_coroutine_threadsafe(server.close(), loop).result(timeout=30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=30)
    loop.close()


def dig(running: Running, *args: str) -> str:
    done = subprocess.run(
        ["dig", "@127.0.0.1", "-p", str(running.port), "+time=5", "+tries=2", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def _status(out: str) -> str:
    found = re.search(r"status: (\w+)", out)
    assert found, out
    return found.group(1)


def _flags(out: str) -> set[str]:
    found = re.search(r";; flags: ([a-z ]*);", out)
    assert found, out
    return set(found.group(1).split())


def _section(out: str, name: str) -> list[list[str]]:
    """Records of a section as split fields (owner, ttl, class, type, data...)."""
    found = re.search(rf";; {name} SECTION:\n(.*?)(?:\n\n|\Z)", out, re.S)
    return [line.split() for line in found.group(1).splitlines()] if found else []


def _size(out: str) -> int:
    found = re.search(r"MSG SIZE\s+rcvd: (\d+)", out)
    assert found, out
    return int(found.group(1))


def test_dig_a_records(running: Running) -> None:
    out = dig(running, "web.service.consul")
    assert _status(out) == "NOERROR"
    assert "aa" in _flags(out)
    answers = _section(out, "ANSWER")
    assert sorted(r[4] for r in answers) == ["127.0.0.1", "127.0.0.2"]
    assert {(r[1], r[3]) for r in answers} == {("0", "A")}


def test_dig_srv_with_additional_records(running: Running) -> None:
    out = dig(running, "web.service.consul", "SRV")
    srv = sorted(tuple(r[4:]) for r in _section(out, "ANSWER"))
    assert srv == [
        ("1", "1", "8080", "node1.node.dc1.consul."),
        ("1", "5", "8081", "7f000002.addr.dc1.consul."),
    ]
    additional = sorted((r[0], r[3], r[4]) for r in _section(out, "ADDITIONAL"))
    assert additional == [
        ("7f000002.addr.dc1.consul.", "A", "127.0.0.2"),
        ("node1.node.dc1.consul.", "A", "127.0.0.1"),
    ]


def test_dig_tag_filter_and_case(running: Running) -> None:
    out = dig(running, "V2.WEB.service.DC1.consul")
    assert [r[4] for r in _section(out, "ANSWER")] == ["127.0.0.2"]
    assert _status(dig(running, "v9.web.service.consul")) == "NXDOMAIN"


def test_dig_rfc2782_forms(running: Running) -> None:
    every = _section(dig(running, "_web._tcp.service.consul", "SRV"), "ANSWER")
    assert sorted(r[6] for r in every) == ["8080", "8081"]
    tagged = _section(dig(running, "_web._v1.service.dc1.consul", "SRV"), "ANSWER")
    assert [r[6] for r in tagged] == ["8080"]


def test_dig_addr_target_resolves_on_its_own(running: Running) -> None:
    targets = [r[7] for r in _section(dig(running, "v2.web.service.consul", "SRV"), "ANSWER")]
    assert targets == ["7f000002.addr.dc1.consul."]
    assert [r[4] for r in _section(dig(running, targets[0]), "ANSWER")] == ["127.0.0.2"]


def test_dig_node_lookup(running: Running) -> None:
    assert [r[4] for r in _section(dig(running, "node2.node.consul"), "ANSWER")] == ["127.0.0.5"]
    out = dig(running, "api.service.consul", "SRV")
    assert [r[7] for r in _section(out, "ANSWER")] == ["node2.node.dc1.consul."]


@pytest.mark.parametrize(
    "name", ["nope.service.consul", "down.service.consul", "web.service.dc9.consul"]
)
def test_dig_nxdomain_with_soa(running: Running, name: str) -> None:
    out = dig(running, name)
    assert _status(out) == "NXDOMAIN"
    assert "aa" in _flags(out)
    assert [(r[0], r[3]) for r in _section(out, "AUTHORITY")] == [("consul.", "SOA")]


def test_dig_known_name_other_type_is_noerror_with_soa(running: Running) -> None:
    out = dig(running, "web.service.consul", "AAAA")
    assert _status(out) == "NOERROR"
    assert not _section(out, "ANSWER")
    assert [r[3] for r in _section(out, "AUTHORITY")] == ["SOA"]


def test_dig_outside_the_domain_is_refused(running: Running) -> None:
    assert _status(dig(running, "example.com")) == "REFUSED"


def test_dig_udp_without_edns_truncates_within_512(running: Running) -> None:
    out = dig(running, "big.service.consul", "SRV", "+noedns", "+ignore")
    assert "tc" in _flags(out)
    assert _size(out) <= 512
    answers, additional = _section(out, "ANSWER"), _section(out, "ADDITIONAL")
    assert 0 < len(answers) < BIG
    assert {r[7] for r in answers} == {r[0] for r in additional}


def test_dig_udp_with_edns_uses_the_advertised_size(running: Running) -> None:
    out = dig(running, "big.service.consul", "SRV", "+bufsize=1400", "+ignore")
    assert "tc" in _flags(out)
    assert 512 < _size(out) <= 1400


def test_dig_tcp_gets_the_full_answer(running: Running) -> None:
    out = dig(running, "big.service.consul", "SRV", "+tcp")
    assert "tc" not in _flags(out)
    assert len(_section(out, "ANSWER")) == BIG
    assert len(_section(out, "ADDITIONAL")) == BIG


def test_dig_retries_truncated_answers_over_tcp(running: Running) -> None:
    out = dig(running, "big.service.consul", "SRV")  # no +ignore: dig falls back to TCP
    assert "Truncated, retrying in TCP mode" in out
    assert len(_section(out, "ANSWER")) == BIG


def test_dnspython_udp_and_tcp(running: Running) -> None:
    query = dns.message.make_query("big.service.consul", "SRV")
    udp = dns.query.udp(query, "127.0.0.1", port=running.port, timeout=5, ignore_trailing=True)
    assert udp.flags & dns.flags.TC
    tcp = dns.query.tcp(query, "127.0.0.1", port=running.port, timeout=5)
    assert not tcp.flags & dns.flags.TC
    assert sum(len(rrset) for rrset in tcp.answer) == BIG
    small = dns.query.udp(
        dns.message.make_query("v1.web.service.consul", "A", use_edns=0),
        "127.0.0.1",
        port=running.port,
        timeout=5,
    )
    assert [rd.address for rrset in small.answer for rd in rrset] == ["127.0.0.1"]
    assert small.edns == 0


def _frame(message: dns.message.Message) -> bytes:
    wire = message.to_wire()
    return struct.pack("!H", len(wire)) + wire


def _read_frame(sock: socket.socket) -> bytes:
    def exactly(count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = sock.recv(count - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    (size,) = struct.unpack("!H", exactly(2))
    return exactly(size)


def test_tcp_serves_several_pipelined_queries_on_one_connection(running: Running) -> None:
    names = ["web.service.consul", "node1.node.consul", "nope.service.consul"]
    queries = [dns.message.make_query(name, "A") for name in names]
    with socket.create_connection(("127.0.0.1", running.port), timeout=10) as sock:
        sock.sendall(b"".join(_frame(q) for q in queries))
        replies = [dns.message.from_wire(_read_frame(sock)) for _ in queries]
    assert [r.id for r in replies] == [q.id for q in queries]
    assert [r.rcode() for r in replies] == [
        dns.rcode.NOERROR,
        dns.rcode.NOERROR,
        dns.rcode.NXDOMAIN,
    ]


def test_tcp_closes_idle_connections(running: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_module, "IDLE_TIMEOUT", 0.5)
    with socket.create_connection(("127.0.0.1", running.port), timeout=30) as sock:
        sock.sendall(b"\x00\x40half")  # announces 64 bytes, sends 4, then stalls
        assert sock.recv(10) == b""  # the server hung up


def test_garbage_floods_never_stop_the_server(running: Running) -> None:
    rng = random.Random(7)
    valid = dns.message.make_query("web.service.consul", "A").to_wire()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        for i in range(3000):
            if i % 2:
                mutated = bytearray(valid)
                mutated[rng.randrange(len(mutated))] = rng.randrange(256)
                packet = bytes(mutated)
            else:
                packet = rng.randbytes(rng.randrange(0, 700))
            udp.sendto(packet, ("127.0.0.1", running.port))
    for junk in (b"\xff\xff" + b"x" * 100, b"\x00\x05abcde", b"\x00", rng.randbytes(5000)):
        with socket.create_connection(("127.0.0.1", running.port), timeout=10) as sock:
            sock.sendall(junk)
            sock.shutdown(socket.SHUT_WR)
            sock.settimeout(10)
            while sock.recv(4096):
                pass
    time.sleep(0.2)
    out = dig(running, "web.service.consul")
    assert len(_section(out, "ANSWER")) == 2
    assert running.server.failures == 0


def test_garbage_with_a_header_gets_formerr(running: Running) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.settimeout(5)
        udp.sendto(
            b"\xab\xcd\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x09short",
            ("127.0.0.1", running.port),
        )
        reply = dns.message.from_wire(udp.recv(512))
    assert (reply.id, reply.rcode()) == (0xABCD, dns.rcode.FORMERR)


def test_a_taken_port_is_a_clear_error(running: Running) -> None:
    second = start_dns(_view(), "127.0.0.1", running.port)
    with pytest.raises(LeapfrogError, match="DNS port is not free"):
        asyncio.run_coroutine_threadsafe(second, running.loop).result(timeout=30)
