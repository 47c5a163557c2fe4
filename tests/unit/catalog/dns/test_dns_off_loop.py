"""A TCP answer (thousands of records) is built and encoded off the event loop, from what
it read from the view on the loop."""

from __future__ import annotations

import asyncio
import threading

import dns.message
import dns.query
import dns.rdatatype
import pytest
from dns_fakes import FakeView, instance

from leapfrog.catalog.dns import _responder, start_dns
from leapfrog.catalog.dns.view import DnsInstance


class _RecordingView(FakeView):
    """Notes the thread of every read."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[int] = []

    def dns_instances(self, service: str, tag: str | None) -> list[DnsInstance] | None:
        self.threads.append(threading.get_ident())
        return super().dns_instances(service, tag)

    def node_address(self, node: str) -> str | None:
        self.threads.append(threading.get_ident())
        return super().node_address(node)

    def node_meta(self, node: str) -> dict[str, str]:
        self.threads.append(threading.get_ident())
        return super().node_meta(node)


def test_a_tcp_answer_is_built_off_the_loop_from_reads_made_on_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    view = _RecordingView()
    view.meta["node1"] = {"zone": "a"}
    for number in range(300):
        view.add("big", instance(f"10.0.{number // 250}.{number % 250 + 1}", 1000 + number))
    built_on: list[int] = []
    build = _responder.build_answer
    monkeypatch.setattr(
        _responder,
        "build_answer",
        lambda *args: built_on.append(threading.get_ident()) or build(*args),
    )

    async def scenario() -> None:
        loop_thread = threading.get_ident()
        server = await start_dns(view, "127.0.0.1", 0)
        try:
            query = dns.message.make_query("big.service.consul", "SRV")
            reply = await asyncio.to_thread(
                dns.query.tcp, query, "127.0.0.1", port=server.port, timeout=5
            )
        finally:
            await server.close()
        srv = [rd for rrset in reply.answer if rrset.rdtype == dns.rdatatype.SRV for rd in rrset]
        assert len(srv) == 300
        txt = [rrset for rrset in reply.additional if rrset.rdtype == dns.rdatatype.TXT]
        assert txt  # the node's meta, read on the loop, is in the answer
        assert built_on and loop_thread not in built_on
        assert view.threads and set(view.threads) == {loop_thread}

    asyncio.run(scenario())
