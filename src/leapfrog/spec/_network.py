"""How instances reach each other on this machine: `network:` and a service's callers."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator

from leapfrog.spec._base import Model as _Model

if TYPE_CHECKING:
    from leapfrog.spec.models import ServiceSpec, StackSpec

__all__ = ["LB", "NetworkSpec", "Pair", "callers_of", "declared_pairs"]

Pair = tuple[str, str]
"""(caller, service)"""

LB = "lb"
"""The load balancer's service name (the `lb` component): routed services let it in."""


class NetworkSpec(_Model):
    """Isolation of instances from each other when the stack runs on this machine."""

    isolation: Literal["loopback", "namespaces"] = Field(
        "loopback",
        description="`loopback`: every instance gets its own 127.x address and any process "
        "reaches any port. `namespaces`: every instance runs in its own network namespace on "
        "a bridge of the stack's own, and a default-deny nftables firewall lets through only "
        "declared callers (`callers:`), services to the platform parts, and the host to "
        "everything. Needs root, `nft` and the CNI plugins (Debian's nftables and "
        "containernetworking-plugins); without them the stack runs on loopback addresses "
        "and `up` says so.",
    )
    subnet: str | None = Field(
        None,
        description="IPv4 network of the bridge with `isolation: namespaces` (a /24 to a /16, "
        "outside 127.0.0.0/8); its first address is the host's. Default: a /24 inside "
        "10.231.0.0/16 chosen from the state directory's path.",
        examples=["10.231.7.0/24"],
    )

    @field_validator("subnet")
    @classmethod
    def _subnet(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            net = ipaddress.IPv4Network(value, strict=True)
        except ValueError as exc:
            raise ValueError(f"expected a network such as 10.231.7.0/24 ({exc})") from None
        if net.is_loopback or net.prefixlen > 24 or net.prefixlen < 16:
            raise ValueError(
                "expected a /24 to /16 network outside 127.0.0.0/8, such as 10.231.7.0/24"
            )
        return value


def callers_of(services: Mapping[str, ServiceSpec], name: str) -> list[str]:
    """The services allowed to call `name`: its `callers:` when given (exactly those);
    otherwise the services that list it in `depends_on`, and its `allow_from`."""
    service = services[name]
    if service.callers is not None:
        return [c for c in service.callers if c != name]
    found = [n for n, s in services.items() if name in s.depends_on and n != name]
    return found + [n for n in service.allow_from if n in services and n not in found]


def declared_pairs(spec: StackSpec) -> list[Pair]:
    """Who may call whom by the stack file: (caller, service) for every declared caller,
    and the load balancer to each service with a `route:`. The same pairs become the
    local catalog's intentions, the firewall's rules and the real Consul's on Kubernetes."""
    pairs = {(caller, name) for name in spec.services for caller in callers_of(spec.services, name)}
    if LB in spec.components:
        pairs |= {(LB, name) for name, svc in spec.services.items() if svc.route is not None}
    return sorted(pairs, key=lambda p: (p[1], p[0]))
