"""Per-instance loopback addresses, stable across restarts of the stack.

Every instance gets its own 127.x.y.z so replicas share a port and nothing collides
with servers already bound to 127.0.0.1. The assignment is kept in the state dir.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from leapfrog.shared.errors import LeapfrogError
from leapfrog.shared.files import atomic_write_json, exclusive_lock, read_json

__all__ = ["AddressBook", "default_network", "listening_second_octets"]


def default_network(
    state_dir: Path, busy: Callable[[], set[int]] | None = None
) -> ipaddress.IPv4Network:
    """A /16 inside 127.0.0.0/8 derived from the state dir, skipping /16s where something
    is listening already (another stack, most likely), so two stacks running side by side
    do not share addresses.

    127.0.x.x is avoided: 127.0.0.1 and 127.0.1.1 are the host's own names. A stack keeps
    the network it got first (`AddressBook.stored_network`), busy or not: its own
    instances are what makes it busy.
    """
    digest = hashlib.sha256(os.fsencode(state_dir)).digest()
    taken = (busy or listening_second_octets)()
    first = digest[0] % _SECONDS
    for step in range(_SECONDS):
        second = 16 + (first + step) % _SECONDS
        if second not in taken:
            return ipaddress.IPv4Network(f"127.{second}.0.0/16")
    return ipaddress.IPv4Network(f"127.{16 + first}.0.0/16")  # all busy: the hash's own


_SECONDS = 224  # 127.16.0.0 to 127.239.255.255
_SOCKET_TABLES = ("/proc/net/tcp", "/proc/net/udp")


def listening_second_octets() -> set[int]:
    """The x of every 127.x.y.z that a TCP or UDP socket of this machine is bound to
    (from the kernel's socket tables; empty where /proc has none)."""
    seconds: set[int] = set()
    for table in _SOCKET_TABLES:
        try:
            with open(table, encoding="ascii") as rows:
                next(rows, None)
                for row in rows:
                    local = row.split(None, 2)[1]
                    # "0100007F:1F90": the address in host (little-endian) byte order
                    packed = int(local.partition(":")[0], 16)
                    if packed & 0xFF == 127:
                        seconds.add((packed >> 8) & 0xFF)
        except (OSError, ValueError, IndexError):
            continue
    return seconds


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

    @staticmethod
    def stored_network(path: Path) -> ipaddress.IPv4Network | None:
        """The default network a stack's addresses were given from, if it has one yet (a
        network the stack file named is not one: without it the default applies again)."""
        stored = read_json(path)
        try:
            net = ipaddress.IPv4Network(stored["network"]) if isinstance(stored, dict) else None
        except (KeyError, TypeError, ValueError):
            return None
        if net is None or net.prefixlen != 16 or not 16 <= net.network_address.packed[1] < 240:
            return None
        return net

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
