"""Is a TCP port free on an address, and if not, which process holds it."""

from __future__ import annotations

import atexit
import errno
import ipaddress
import os
import random
import socket
import tempfile
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

_CLAIMS = Path(tempfile.gettempdir()) / "leapfrog-ports"
"""One file per port handed out by a live process (its pid inside), so that two processes
drawing ports side by side (two test sessions) never get the same one."""


_DRAWN = range(20000, 28000)
"""Where `free_port` draws from: below the kernel's ephemeral ports (32768-60999 by
default), which it gives to every `bind(0)` and outgoing connection. A port drawn from
there could be taken by any program (a JVM's random ports, a client's connection) between
the draw and the caller's bind; these only by a program that names them. 28500-28900 are
the console benchmark's, 30000 and up Kubernetes' node ports."""


def _ephemeral() -> range:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return range(int(low), int(high) + 1)
    except (OSError, ValueError):
        return range(32768, 61000)


def _drawn_ports() -> list[int]:
    """The ports to draw from, in a random order; [] when the kernel's ephemeral range
    covers them (then the kernel's choice is as good)."""
    ephemeral = _ephemeral()
    if _DRAWN.start < ephemeral.stop and ephemeral.start < _DRAWN.stop:
        return []
    ports = list(_DRAWN)
    random.shuffle(ports)
    return ports


def _kernels_choice(address: str) -> int:
    with socket.socket() as sock:
        sock.bind((address, 0))
        port: int = sock.getsockname()[1]
    return port


def free_port(address: str = "127.0.0.1") -> int:
    """A port free on `address` now, that this process has not handed out before and
    that no other live process has claimed through this function. It comes from outside
    the kernel's ephemeral range when it can (`_DRAWN`), so no program binding port 0 or
    connecting out takes it before the caller binds it; a program that names it still
    can: fine for tests, benchmarks and scratch servers, not for a service's address."""
    for port in _drawn_ports():
        if (address, port) in _handed_out or not port_is_free(address, port):
            continue
        if _claim(address, port):
            _handed_out.add((address, port))
            return port
    while True:
        port = _kernels_choice(address)
        if (address, port) not in _handed_out and _claim(address, port):
            _handed_out.add((address, port))
            return port


def _claim(address: str, port: int) -> bool:
    """Claim address:port for this process; False when a live process holds the claim."""
    try:
        _CLAIMS.mkdir(mode=0o1777, exist_ok=True)
        if not _claimed:
            atexit.register(_release)
        path = _CLAIMS / f"{address}:{port}"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            try:
                holder = int(path.read_text() or "0")
            except (OSError, ValueError):
                holder = 0
            if holder and holder != os.getpid() and _alive(holder):
                return False
            path.unlink(missing_ok=True)  # its process is gone
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "w") as claim:
            claim.write(str(os.getpid()))
        _claimed.append(path)
    except OSError:
        pass  # no shared folder to claim in (read-only /tmp): this process's memory only
    return True


_claimed: list[Path] = []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _release() -> None:
    for path in _claimed:
        try:
            if path.read_text() == str(os.getpid()):
                path.unlink()
        except OSError:
            pass


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
