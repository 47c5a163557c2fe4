"""What changed between two HAProxy configurations, as runtime API commands when it can.

Two configurations have the same shape when they are equal but for their server lines'
addresses and `disabled` flags; the change between them is then a list of `set server`
commands, applied without a reload. Any other change needs a reload."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

__all__ = ["Server", "runtime_commands", "split_config"]

_SECTIONS = ("backend", "listen")


@dataclass(frozen=True)
class Server:
    backend: str
    name: str
    address: str
    port: int
    enabled: bool


def split_config(text: str) -> tuple[list[str], dict[tuple[str, str], Server]]:
    """The configuration's shape (server lines without address and flag) and its servers."""
    shape: list[str] = []
    servers: dict[tuple[str, str], Server] = {}
    section = ""
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        words = line.split()
        if not raw[0].isspace():
            section = words[1] if words[0] in _SECTIONS and len(words) > 1 else ""
            shape.append(line)
            continue
        if section and words[0] == "server" and len(words) >= 3:
            host, _, port = words[2].rpartition(":")
            if host and port.isdigit():
                flags = [w for w in words[3:] if w != "disabled"]
                servers[(section, words[1])] = Server(
                    section, words[1], host, int(port), "disabled" not in words[3:]
                )
                shape.append(" ".join(["server", words[1], *flags]))
                continue
        shape.append(" ".join(words))
    return shape, servers


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def runtime_commands(old: str, new: str) -> list[str] | None:
    """`set server` commands turning `old` into `new`; None when that needs a reload."""
    old_shape, old_servers = split_config(old)
    new_shape, new_servers = split_config(new)
    if old_shape != new_shape or old_servers.keys() != new_servers.keys():
        return None
    commands: list[str] = []
    for key, after in new_servers.items():
        before = old_servers[key]
        if before == after:
            continue
        if not _is_ip(after.address):
            return None
        target = f"{after.backend}/{after.name}"
        moved = (before.address, before.port) != (after.address, after.port)
        if moved:
            if before.enabled:
                commands.append(f"set server {target} state maint")
            commands.append(f"set server {target} addr {after.address} port {after.port}")
        if after.enabled and (moved or not before.enabled):
            commands.append(f"set server {target} state ready")
        elif not after.enabled and before.enabled and not moved:
            commands.append(f"set server {target} state maint")
    return commands
