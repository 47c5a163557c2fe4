"""Per-instance loopback addresses, stable across restarts of the stack.

Every instance gets its own 127.x.y.z so replicas share a port and nothing collides
with servers already bound to 127.0.0.1. The assignment is kept in the state dir.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
from collections.abc import Iterable
from pathlib import Path

from leapfrog.shared.errors import LeapfrogError
from leapfrog.shared.files import atomic_write_json, exclusive_lock, read_json

__all__ = ["AddressBook", "default_network"]


def default_network(state_dir: Path) -> ipaddress.IPv4Network:
    """A /16 inside 127.0.0.0/8 derived from the state dir, so two stacks rarely overlap.

    127.0.x.x is avoided: 127.0.0.1 and 127.0.1.1 are the host's own names.
    """
    digest = hashlib.sha256(os.fsencode(state_dir)).digest()
    second = 16 + digest[0] % 224
    return ipaddress.IPv4Network(f"127.{second}.0.0/16")


class AddressBook:
    def __init__(self, path: Path, network: ipaddress.IPv4Network) -> None:
        self._path = path
        self._network = network
        self._by_name: dict[str, str] = {}
        self._load()

    def _load(self) -> None:
        stored = read_json(self._path)
        if isinstance(stored, dict) and stored.get("network") == str(self._network):
            self._by_name = {str(k): str(v) for k, v in stored.get("instances", {}).items()}

    @property
    def network(self) -> ipaddress.IPv4Network:
        return self._network

    def _usable(self) -> Iterable[ipaddress.IPv4Address]:
        for address in self._network.hosts():
            last = int(address) & 0xFF
            if last not in (0, 1, 255):  # .1 often means a gateway; keep it out of the way
                yield address

    def assign(self, names: Iterable[str]) -> dict[str, str]:
        """Addresses for `names`, reusing earlier assignments; saved when anything changed.

        Read, assigned and saved under a lock, from the file as it is now: the rollouts of
        several services build their instances at once (in threads), and two surge
        instances must not both get the next free address."""
        self._path.parent.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(self._path.with_name(self._path.name + ".lock")):
            self._load()
            return self._assign(names)

    def _assign(self, names: Iterable[str]) -> dict[str, str]:
        taken = set(self._by_name.values())
        fresh = self._usable()
        changed = False
        result: dict[str, str] = {}
        for name in names:
            if name not in self._by_name:
                for candidate in fresh:
                    if str(candidate) not in taken:
                        self._by_name[name] = str(candidate)
                        taken.add(str(candidate))
                        changed = True
                        break
                else:
                    raise LeapfrogError(
                        f"no free address left in {self._network} for {name}",
                        hint="give local.addresses a larger network, such as a /16",
                    )
            result[name] = self._by_name[name]
        if changed:
            atomic_write_json(
                self._path, {"network": str(self._network), "instances": self._by_name}
            )
        return result
