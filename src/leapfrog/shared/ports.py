"""Is a TCP port free on an address, and if not, which process holds it."""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from leapfrog.shared.procs import cmdline

__all__ = ["PortHolder", "find_listener", "free_port", "port_is_free"]


@dataclass(frozen=True)
class PortHolder:
    address: str
    port: int
    pid: int | None
    command: str | None

    def describe(self) -> str:
        who = f"pid {self.pid} ({self.command})" if self.pid else "a process leapfrog cannot see"
        return f"{self.address}:{self.port} is held by {who}"


_handed_out: set[tuple[str, int]] = set()
"""Ports this process has handed out. The kernel gives a port just closed back at once,
so two calls in a row (a listener and its stats port) could otherwise get the same one."""


def free_port(address: str = "127.0.0.1") -> int:
    """A port the kernel has free on `address` now and that this process has not handed
    out before (another program may take it before the caller binds it: fine for tests
    and benchmarks, not for production)."""
    while True:
        with socket.socket() as sock:
            sock.bind((address, 0))
            port: int = sock.getsockname()[1]
        if (address, port) not in _handed_out:
            _handed_out.add((address, port))
            return port


def port_is_free(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def _listening_inodes(address: str, port: int) -> dict[int, str]:
    """Inodes of listening TCP sockets that conflict with address:port (exact or wildcard)."""
    wanted = {address, "0.0.0.0"}
    found: dict[int, str] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            local, state, inode = parts[1], parts[3], int(parts[9])
            if state != "0A":  # LISTEN
                continue
            hex_addr, hex_port = local.split(":")
            if int(hex_port, 16) != port:
                continue
            if len(hex_addr) == 8:
                addr = str(ipaddress.IPv4Address(bytes.fromhex(hex_addr)[::-1]))
            else:
                words = bytes.fromhex(hex_addr)
                raw = b"".join(words[i : i + 4][::-1] for i in range(0, 16, 4))
                v6 = ipaddress.IPv6Address(raw)
                addr = (
                    str(v6.ipv4_mapped)
                    if v6.ipv4_mapped
                    else ("0.0.0.0" if v6.is_unspecified else str(v6))
                )
            if addr in wanted:
                found[inode] = addr
    return found


def find_listener(address: str, port: int) -> PortHolder | None:
    """The process listening on address:port (or on the wildcard address), if any."""
    inodes = _listening_inodes(address, port)
    if not inodes:
        return None
    targets = {f"socket:[{inode}]": addr for inode, addr in inodes.items()}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fds = os.listdir(f"/proc/{entry.name}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(f"/proc/{entry.name}/fd/{fd}")
            except OSError:
                continue
            if link in targets:
                pid = int(entry.name)
                return PortHolder(targets[link], port, pid, cmdline(pid))
    return PortHolder(next(iter(inodes.values())), port, None, None)
