"""Loopback addresses: every instance its own 127.x address in the host's network.

Nothing is enforced: any process reaches any port (the default, and what runs where
network namespaces cannot be made)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from pathlib import Path

from leapfrog.runtime.local.addresses import AddressBook, default_network
from leapfrog.runtime.local.network.base import HOST, Attachment, NetworkProvider, Policy

__all__ = ["LoopbackNetwork"]


class LoopbackNetwork(NetworkProvider):
    kind = "loopback"

    def __init__(
        self, addresses_file: Path, state_dir: Path, network: str | None, note: str | None = None
    ) -> None:
        if network:
            net = ipaddress.IPv4Network(network)
        else:
            net = AddressBook.stored_network(addresses_file) or default_network(state_dir)
        self._book = AddressBook(addresses_file, net)
        self.note = note

    def addresses(self, names: Sequence[str]) -> dict[str, str]:
        return self._book.assign(names)

    def attachment(self, name: str, address: str, *, host_network: bool = False) -> Attachment:
        return HOST

    def host_endpoint(self, endpoint: str) -> str:
        return endpoint

    def enforce(self, policy: Policy) -> None:
        return None
