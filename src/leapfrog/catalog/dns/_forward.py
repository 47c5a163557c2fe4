"""Consul's `recursors`: questions outside the served domain, asked of upstream resolvers.

Each recursor is asked in turn (as Consul does) until one answers NOERROR or NXDOMAIN;
that answer goes back to the client as it came, with the client's ID. When none answers
within `timeout` each, the client gets SERVFAIL, so a name nobody serves fails in
bounded time instead of the client's own timeout. dnspython does the wire format and
the asking (asyncio, on the catalog's loop: waiting holds no thread).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.rcode

from leapfrog.shared.errors import LeapfrogError
from leapfrog.shared.resolvers import split_dns_server

__all__ = ["Forwarder", "Recursor", "parse_recursor"]

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 2.0
"""Seconds each recursor has to answer (Consul's recursor_timeout, 2s)."""
MAX_IN_FLIGHT = 512
"""Questions being forwarded at once; past that the client gets SERVFAIL at once, so a
flood of outside names cannot grow memory without bound."""


@dataclass(frozen=True)
class Recursor:
    host: str
    port: int = 53

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_recursor(text: str) -> Recursor:
    """`1.2.3.4`, `1.2.3.4:5353`, `::1` or `[::1]:5353`, as Consul's -recursor takes."""
    try:
        return Recursor(*split_dns_server(text))
    except ValueError as exc:
        raise LeapfrogError(f"invalid recursor {text!r}", hint=str(exc)) from None


class Forwarder:
    def __init__(self, recursors: Sequence[Recursor], timeout: float = DEFAULT_TIMEOUT) -> None:
        self.recursors = tuple(recursors)
        self.timeout = timeout
        self.in_flight = 0
        self.unanswered = 0
        """Questions answered SERVFAIL because no recursor answered (for tests, health)."""

    async def forward(self, data: bytes, *, tcp: bool) -> bytes | None:
        """The response to the query `data`; None when it is not one worth answering."""
        try:
            query = dns.message.from_wire(data)
        except Exception:
            return None  # the caller checked it decodes; dnspython is stricter: drop it
        if self.in_flight >= MAX_IN_FLIGHT:
            return _servfail(query)
        self.in_flight += 1
        try:
            for recursor in self.recursors:
                answer = await self._ask(recursor, query, tcp=tcp)
                if answer is not None:
                    return answer
        finally:
            self.in_flight -= 1
        self.unanswered += 1
        return _servfail(query)

    async def _ask(
        self, recursor: Recursor, query: dns.message.Message, *, tcp: bool
    ) -> bytes | None:
        ask = dns.asyncquery.tcp if tcp else dns.asyncquery.udp
        try:
            async with asyncio.timeout(self.timeout):
                response = await ask(query, recursor.host, timeout=self.timeout, port=recursor.port)
        except (TimeoutError, OSError, EOFError, dns.exception.DNSException) as exc:
            log.debug("recursor %s did not answer %s: %s", recursor, query.question, exc)
            return None
        if response.rcode() not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            return None  # as Consul: another recursor may do better, else SERVFAIL
        # A UDP answer too big for the client keeps its TC bit: the client asks over TCP.
        return response.to_wire(max_size=65535)


def _servfail(query: dns.message.Message) -> bytes:
    response = dns.message.make_response(query)
    response.set_rcode(dns.rcode.SERVFAIL)
    response.flags |= dns.flags.RA
    return response.to_wire()
