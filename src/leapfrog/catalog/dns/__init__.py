"""The catalog's DNS interface: Consul-compatible answers over UDP and TCP.

`start_dns` serves `[<tag>.]<svc>.service[.<dc>].<domain>` (A, AAAA, SRV, RFC 2782
forms; TXT answers the addresses, as Consul's does), `<node>.node[.<dc>].<domain>` (the
node's meta as TXT, RFC 1464-quoted) and `<hex-ip>.addr[.<dc>].<domain>`, reading the
catalog only through a `DnsView`. An SRV targets `<hex-ip>.addr.<dc>.<domain>` for a
service registered with an IP of its own and the node for one without, and carries the
node's meta as TXT in ADDITIONAL. The SOA names `ns.<domain>` and `hostmaster.<domain>`.
Names outside the domain are refused: like a Consul agent without recursors, this server
never recurses.

The view is read on the event loop only. A TCP answer, which may hold thousands of
records, reads what it needs first (`FrozenView`) and is then built and encoded on a
worker thread, so a 10,000-instance SRV answer does not hold the loop.
"""

from __future__ import annotations

from leapfrog.catalog.dns._answers import Zone
from leapfrog.catalog.dns._responder import Responder
from leapfrog.catalog.dns._server import DnsServer, listen
from leapfrog.catalog.dns._wire import split_name
from leapfrog.catalog.dns.view import DnsInstance, DnsView
from leapfrog.shared.errors import LeapfrogError

__all__ = ["DnsInstance", "DnsServer", "DnsView", "start_dns"]


async def start_dns(
    view: DnsView, host: str, port: int, *, domain: str = "consul", ttl: int = 0
) -> DnsServer:
    """Serve DNS for `view` on host:port (UDP and TCP; port 0 picks a free one)."""
    labels = split_name(domain.lower())
    if not labels or any(len(label) > 63 for label in labels):
        raise LeapfrogError(f"invalid DNS domain {domain!r}", hint="use a name such as consul")
    if not 0 <= ttl <= 0x7FFFFFFF:
        raise LeapfrogError(f"invalid DNS TTL {ttl}", hint="use a number of seconds >= 0")
    return await listen(Responder(view, Zone(labels, ttl)), host, port)
