"""The firewall as nftables rules, in tables of the stack's own.

* `table bridge <name>` filters what crosses the stack's bridge between two instances:
  declared flows pass (a connection's first packets one way, its answers the other),
  every other IPv4 packet between two addresses of the subnet is dropped. (The bridge
  family of this kernel may lack connection tracking and reject, so it keeps no state.)
* `table ip <name>` guards the host: an instance reaches a platform endpoint in the
  host's network (the catalog) at the bridge's address, translated to the endpoint's
  own, only when a flow says so; any other connection from the bridge to the host is
  refused (TCP reset). An instance's DNS queries (port 53), to whatever address its
  resolv.conf names, are translated to the catalog's DNS when a flow says so.

The host itself reaches every instance (health checks, the load balancer, you).
Applying replaces both tables in one transaction (`nft -f`), so rules change live.
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass

from leapfrog.runtime.local.network.base import NetworkError, Policy

__all__ = [
    "INSIDE_TABLE",
    "Names",
    "apply_script",
    "delete_tables",
    "render",
    "render_inside",
    "table_exists",
]

INSIDE_TABLE = "leapfrog_dns"
"""The table in each instance's own namespace (gone with the namespace)."""

_TIMEOUT = 30.0


@dataclass(frozen=True)
class Names:
    table: str
    bridge: str
    subnet: str
    gateway: str


def _comment(why: str) -> str:
    text = "".join(c for c in why if c.isalnum() or c in " ->_.:,/")[:120]
    return f' comment "{text}"' if text else ""


def _bridge_rules(policy: Policy, names: Names) -> list[str]:
    rules = []
    for flow in sorted(set(policy.flows)):
        pair = f"ip saddr {flow.source} ip daddr {flow.target}"
        back = f"ip saddr {flow.target} ip daddr {flow.source}"
        note = _comment(flow.why)
        if flow.port is None:
            rules.append(f"{pair} accept{note}")
            # Answers to it, but never a new TCP connection the other way.
            rules.append(f"{back} tcp flags & (syn | ack) != syn accept{note}")
            rules.append(f"{back} meta l4proto udp accept{note}")
        else:
            rules.append(f"{pair} tcp dport {flow.port} accept{note}")
            rules.append(
                f"{back} tcp sport {flow.port} tcp flags & (syn | ack) != syn accept{note}"
            )
    rules.append(f"ip saddr {names.subnet} ip daddr {names.subnet} drop")
    return rules


def _host_rules(policy: Policy, names: Names) -> tuple[list[str], list[str]]:
    bridge = f'iifname "{names.bridge}"'
    nat: list[str] = []
    seen: set[tuple[str, int, str]] = set()
    allow: list[str] = [f"{bridge} ct state established,related accept"]
    for flow in sorted(set(policy.to_host)):
        key = (flow.host, flow.port, flow.protocol)
        if key not in seen:
            seen.add(key)
            nat.append(
                f"{bridge} ip daddr {names.gateway} {flow.protocol} dport {flow.port} "
                f"dnat to {flow.host}:{flow.port}"
            )
        allow.append(
            f"{bridge} ip saddr {flow.source} ip daddr {flow.host} {flow.protocol} dport "
            f"{flow.port} ct status dnat accept{_comment(flow.why)}"
        )
    for flow in sorted(set(policy.resolver)):
        # Any destination: the resolv.conf of the host names resolvers out of reach.
        nat.append(
            f"{bridge} ip saddr {flow.source} {flow.protocol} dport 53 "
            f"dnat to {flow.host}:{flow.port}{_comment(flow.why + ' DNS')}"
        )
    # DNS not translated (platform parts): refused at once rather than left to time out.
    allow.append(f"{bridge} udp dport 53 reject")
    allow.append(f"{bridge} meta l4proto tcp reject with tcp reset")
    allow.append(f"{bridge} drop")
    return nat, allow


def _chain(name: str, hook: str, lines: Iterable[str]) -> list[str]:
    body = [f"    {line}" for line in lines]
    return [f"  chain {name} {{", f"    {hook}", *body, "  }"]


def render(policy: Policy, names: Names) -> str:
    """The nft script that makes the stack's two tables exactly `policy`."""
    ipaddress.IPv4Network(names.subnet)  # a wrong subnet fails here, not inside nft
    nat, allow = _host_rules(policy, names)
    lines = [
        f"table bridge {names.table}",
        f"delete table bridge {names.table}",
        f"table bridge {names.table} {{",
        *_chain(
            "forward",
            "type filter hook forward priority filter; policy accept;",
            _bridge_rules(policy, names),
        ),
        "}",
        f"table ip {names.table}",
        f"delete table ip {names.table}",
        f"table ip {names.table} {{",
        *_chain("prerouting", "type nat hook prerouting priority dstnat; policy accept;", nat),
        *_chain("input", "type filter hook input priority filter; policy accept;", allow),
        "}",
    ]
    return "\n".join(lines) + "\n"


def render_inside(gateway: str, ifname: str) -> str:
    """The nft script of an instance's own namespace: DNS queries to a loopback resolver
    (systemd-resolved's 127.0.0.53, a local dnsmasq), which in the namespace is nobody,
    go out to the bridge's address instead (where the host's rules answer them with the
    catalog's DNS), from the instance's address. This needs route_localnet on `ifname`;
    so nothing from outside may then reach the namespace's loopback addresses."""
    out = f'oifname "{ifname}"'
    into = f'iifname "{ifname}"'
    rules_out = [
        f"ip daddr 127.0.0.0/8 {proto} dport 53 dnat to {gateway}:53" for proto in ("udp", "tcp")
    ]
    lines = [
        f"table ip {INSIDE_TABLE}",
        f"delete table ip {INSIDE_TABLE}",
        f"table ip {INSIDE_TABLE} {{",
        *_chain("output", "type nat hook output priority -100; policy accept;", rules_out),
        *_chain(
            "postrouting",
            "type nat hook postrouting priority srcnat; policy accept;",
            [f"{out} ip saddr 127.0.0.0/8 masquerade"],
        ),
        *_chain(
            "input",
            "type filter hook input priority filter; policy accept;",
            [
                f"{into} ip daddr 127.0.0.0/8 ct direction original drop",
                f"{into} ip saddr 127.0.0.0/8 ct direction original drop",
            ],
        ),
        "}",
    ]
    return "\n".join(lines) + "\n"


def _nft() -> str:
    found = shutil.which("nft") or next(
        (p for p in ("/usr/sbin/nft", "/sbin/nft") if shutil.which(p)), None
    )
    if found is None:
        raise NetworkError("nft not found; install Debian's nftables (apt-get install nftables)")
    return found


def _run(args: list[str], script: str | None = None) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            [_nft(), *args],
            input=script.encode() if script is not None else None,
            capture_output=True,
            timeout=_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NetworkError(f"nft {' '.join(args)} failed: {exc}") from None


def apply_script(script: str) -> None:
    done = _run(["-f", "-"], script)
    if done.returncode != 0:
        raise NetworkError(f"nft refused the firewall rules: {done.stderr.decode().strip()}")


def table_exists(family: str, table: str) -> bool:
    return _run(["list", "table", family, table]).returncode == 0


def delete_tables(table: str) -> list[str]:
    """Delete the stack's two tables where they exist; what could not be deleted."""
    left = []
    for family in ("bridge", "ip"):
        if not table_exists(family, table):
            continue
        done = _run(["delete", "table", family, table])
        if done.returncode != 0:
            left.append(f"nft table {family} {table}: {done.stderr.decode().strip()}")
    return left
