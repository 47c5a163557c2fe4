"""DNS servers by address: `IP[:PORT]` as Consul's `recursors` take them, and the host's
own from resolv.conf."""

from __future__ import annotations

import ipaddress
from pathlib import Path

__all__ = ["RESOLV_CONF", "host_nameservers", "split_dns_server"]

RESOLV_CONF = Path("/etc/resolv.conf")


def split_dns_server(text: str) -> tuple[str, int]:
    """`10.0.0.2`, `10.0.0.2:5353`, `::1` or `[::1]:5353` as (address, port); ValueError
    saying what to give otherwise."""
    value = text.strip()
    host, port = value, "53"
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ("" if rest else "53")
    elif value.count(":") == 1:
        host, _, port = value.partition(":")
    try:
        ipaddress.ip_address(host)
        number = int(port) if port.isascii() and port.isdigit() else -1
    except ValueError:
        number = -1
    if not 0 < number < 65536:
        raise ValueError(
            f"expected an IP address, optionally with a port (10.0.0.2, 10.0.0.2:5353, "
            f"[::1]:53), not {text!r}"
        )
    return host, number


def host_nameservers(resolv_conf: Path = RESOLV_CONF) -> list[str]:
    """The `nameserver` addresses of resolv.conf, in order ([] when it is unreadable)."""
    try:
        text = resolv_conf.read_text(errors="replace")
    except OSError:
        return []
    found = []
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver":
            address = words[1].partition("%")[0]  # fe80::1%eth0: the zone is not ours
            try:
                ipaddress.ip_address(address)
            except ValueError:
                continue
            found.append(address)
    return found
