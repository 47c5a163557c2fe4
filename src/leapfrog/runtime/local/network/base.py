"""The network contract: where an instance's processes run, which addresses instances
get, and which flows between them the platform lets through.

Two implementations, one module each: `loopback` (every instance a 127.x address in
the host's network, nothing enforced) and `namespaces` (a network namespace each on a
bridge, a default-deny nftables firewall). The runtime uses only what is here.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "HOST",
    "Attachment",
    "Flow",
    "HostFlow",
    "HostNetwork",
    "NetworkError",
    "NetworkProvider",
    "Policy",
]


class NetworkError(Exception):
    """An instance's network could not be made; the message says what failed."""


class Attachment(ABC):
    """The network an instance's processes run in."""

    netns: str | None = None
    """Name of its network namespace (under /run/netns), None for the host's network."""

    @abstractmethod
    def attach(self) -> None:
        """Make the network before a start; idempotent. Raises NetworkError."""

    @abstractmethod
    def entered(self) -> contextlib.AbstractContextManager[None]:
        """The calling thread inside this network meanwhile: a process it starts (fork,
        exec) stays there for good, whatever user it then becomes."""


class HostNetwork(Attachment):
    """The host's own network: nothing to make, nothing to enter."""

    def attach(self) -> None:
        return None

    @contextlib.contextmanager
    def entered(self) -> Iterator[None]:
        yield


HOST = HostNetwork()


@dataclass(frozen=True, order=True)
class Flow:
    """Connections `source` may open to `target` (addresses of isolated instances)."""

    source: str
    target: str
    port: int | None
    """None: any TCP or UDP port (platform parts among themselves, services to them)."""
    why: str = ""


@dataclass(frozen=True, order=True)
class HostFlow:
    """Connections an isolated instance may open to a platform endpoint in the host's
    network (the catalog), through the bridge's own address."""

    source: str
    host: str
    port: int
    protocol: Literal["tcp", "udp"]
    why: str = ""


@dataclass(frozen=True)
class Policy:
    """Everything let through; everything else between isolated instances is refused."""

    flows: tuple[Flow, ...] = ()
    to_host: tuple[HostFlow, ...] = ()
    resolver: tuple[HostFlow, ...] = ()
    """DNS queries (port 53) `source` sends to whatever address, answered by `host:port`
    instead (the catalog's DNS): an instance's resolv.conf names the host's resolvers,
    which are not reachable from its namespace."""


class NetworkProvider(ABC):
    kind: str
    note: str | None = None
    """Said by `up` when the stack asked for more than this machine gives (namespaces
    without root): what runs instead."""

    @abstractmethod
    def addresses(self, names: Sequence[str]) -> dict[str, str]:
        """Each instance's address, stable across restarts of the stack."""

    @abstractmethod
    def attachment(self, name: str, address: str, *, host_network: bool = False) -> Attachment:
        """The network instance `name` (at `address`) runs in; `host_network`: the
        host's in any case (the load balancer, leapfrog's own programs)."""

    @abstractmethod
    def host_endpoint(self, endpoint: str) -> str:
        """`address:port` of a program in the host's network as isolated instances reach it."""

    @abstractmethod
    def enforce(self, policy: Policy) -> None:
        """Let through exactly `policy`, now, without restarting anything. Raises NetworkError."""
