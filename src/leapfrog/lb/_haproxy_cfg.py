"""What changed between two HAProxy configurations, as runtime API commands when it can.

Two configurations have the same shape when they are equal but for their server lines'
addresses and `disabled` flags and the entries of their map files; the change between
them is then `set server` commands and new map contents, applied without a reload. Any
other change needs a reload.

A map's entries are written in the configuration itself, as comment lines
`#@map <file> <key> <value>` (HAProxy ignores them): the rendered text stays the one thing
compared, checked and kept, and the map files are written from it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from leapfrog.shared.files import atomic_write_text

__all__ = [
    "MAP_MARK",
    "RuntimeChange",
    "Server",
    "map_files",
    "runtime_change",
    "runtime_commands",
    "split_config",
    "write_maps",
]

MAP_MARK = "#@map "
_SECTIONS = ("backend", "listen")

MapEntries = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Server:
    backend: str
    name: str
    address: str
    port: int
    enabled: bool


@dataclass(frozen=True)
class RuntimeChange:
    """What the runtime API must do: server commands, then whole new map contents."""

    servers: list[str] = field(default_factory=list)
    maps: dict[str, MapEntries] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.servers or self.maps)


def map_files(text: str) -> dict[str, MapEntries]:
    """Every map file's entries, in the order written."""
    found: dict[str, list[tuple[str, str]]] = {}
    for raw in text.splitlines():
        if raw.startswith(MAP_MARK):
            words = raw[len(MAP_MARK) :].split()
            if len(words) == 3:
                found.setdefault(words[0], []).append((words[1], words[2]))
            elif len(words) == 1:
                found.setdefault(words[0], [])  # an empty map
    return {name: tuple(entries) for name, entries in found.items()}


def write_maps(config_text: str, config_dir: Path) -> None:
    """The map files a configuration names, written from its `#@map` lines (a relative name
    next to the configuration, as `default-path config` has HAProxy read it); HAProxy reads
    them when it starts or reloads (the runtime API changes only the running process)."""
    for name, entries in map_files(config_text).items():
        text = "".join(f"{key} {value}\n" for key, value in entries)
        atomic_write_text(config_dir / name, text)


def split_config(text: str) -> tuple[list[str], dict[tuple[str, str], Server]]:
    """The configuration's shape (server lines without address and flag, without map
    entries) and its servers."""
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


def runtime_change(old: str, new: str) -> RuntimeChange | None:
    """The runtime API's work turning `old` into `new`; None when that needs a reload."""
    old_shape, old_servers = split_config(old)
    new_shape, new_servers = split_config(new)
    if old_shape != new_shape or old_servers.keys() != new_servers.keys():
        return None
    old_maps, new_maps = map_files(old), map_files(new)
    if old_maps.keys() != new_maps.keys():
        return None
    # Slots that were idle are filled first, and only then are live slots taken down or
    # moved: HAProxy runs the commands one by one between requests, and a backend whose
    # one live slot moves before its new instance's idle slot is ready would have no
    # server for that moment (a 503 `<NOSRV>` in a rolling update).
    filling: list[str] = []
    commands: list[str] = []
    for key, after in new_servers.items():
        before = old_servers[key]
        if before == after:
            continue
        if not _is_ip(after.address):
            return None
        target = f"{after.backend}/{after.name}"
        steps = filling if not before.enabled else commands
        moved = (before.address, before.port) != (after.address, after.port)
        if moved:
            if before.enabled:
                steps.append(f"set server {target} state maint")
            steps.append(f"set server {target} addr {after.address} port {after.port}")
        if after.enabled and (moved or not before.enabled):
            steps.append(f"set server {target} state ready")
        elif not after.enabled and before.enabled and not moved:
            steps.append(f"set server {target} state maint")
    commands = filling + commands
    maps = {name: entries for name, entries in new_maps.items() if entries != old_maps[name]}
    return RuntimeChange(commands, maps)


def runtime_commands(old: str, new: str) -> list[str] | None:
    """The `set server` commands turning `old` into `new` when nothing else changed but
    servers; None when that needs a reload (or a map changed too)."""
    change = runtime_change(old, new)
    if change is None or change.maps:
        return None
    return change.servers
