"""The catalog's DNS interface: Consul-compatible answers over UDP and TCP.

`start_dns` serves `[<tag>.]<svc>.service[.<dc>].<domain>` (A, AAAA, SRV, RFC 2782
forms; TXT answers the addresses, as Consul's does), `<node>.node[.<dc>].<domain>` (the
node's meta as TXT, RFC 1464-quoted) and `<hex-ip>.addr[.<dc>].<domain>`, reading the
catalog only through a `DnsView`. An SRV targets `<hex-ip>.addr.<dc>.<domain>` for a
service registered with an IP of its own and the node for one without, and carries the
node's meta as TXT in ADDITIONAL. The SOA names `ns.<domain>` and `hostmaster.<domain>`.
Names outside the domain are asked of the `recursors` in turn (Consul's `recursors`: the
first NOERROR or NXDOMAIN answer is passed through, SERVFAIL when none answers within
the recursor timeout each); without recursors they are refused, as by a Consul agent
without them.

The view is read on the event loop only. A TCP answer, which may hold thousands of
records, reads what it needs first (`FrozenView`) and is then built and encoded on a
worker thread, so a 10,000-instance SRV answer does not hold the loop.
"""

from __future__ import annotations

from collections.abc import Sequence

from leapfrog.catalog.dns._answers import Zone
from leapfrog.catalog.dns._forward import DEFAULT_TIMEOUT, Forwarder, Recursor, parse_recursor
from leapfrog.catalog.dns._responder import Responder
from leapfrog.catalog.dns._server import DnsServer, listen
from leapfrog.catalog.dns._wire import split_name
from leapfrog.catalog.dns.view import DnsInstance, DnsView
from leapfrog.shared.errors import LeapfrogError

__all__ = ["DnsInstance", "DnsServer", "DnsView", "Recursor", "parse_recursor", "start_dns"]


async def start_dns(
    view: DnsView,
    host: str,
    port: int,
    *,
    domain: str = "consul",
    ttl: int = 0,
    recursors: Sequence[Recursor] = (),
    recursor_timeout: float = DEFAULT_TIMEOUT,
) -> DnsServer:
    """Serve DNS for `view` on host:port (UDP and TCP; port 0 picks a free one);
    names outside `domain` are asked of `recursors`."""
    labels = split_name(domain.lower())
    if not labels or any(len(label) > 63 for label in labels):
        raise LeapfrogError(f"invalid DNS domain {domain!r}", hint="use a name such as consul")
    if not 0 <= ttl <= 0x7FFFFFFF:
        raise LeapfrogError(f"invalid DNS TTL {ttl}", hint="use a number of seconds >= 0")
    if not 0 < recursor_timeout <= 60:
        raise LeapfrogError(
            f"invalid recursor timeout {recursor_timeout}", hint="use 0.1 to 60 seconds"
        )
    forwarder = Forwarder(recursors, recursor_timeout) if recursors else None
    return await listen(Responder(view, Zone(labels, ttl)), host, port, forwarder)
