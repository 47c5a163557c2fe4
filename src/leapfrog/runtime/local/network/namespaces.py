"""A network namespace per instance on a bridge of the stack's own, made by the
standard CNI plugins (bridge + host-local IPAM, loopback), with the default-deny
firewall of `nftables`.

Everything made is written down in the state dir (`network.json`) before it is made,
and only what is written there is ever removed (`release`): the stack's bridge, its
namespaces (lf<id>-<instance>, each with its own `leapfrog_dns` nft table, gone with
it), its two nft tables and the IPAM's own records.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import os
import subprocess
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from leapfrog.runtime.local.addresses import AddressBook
from leapfrog.runtime.local.network import cni, nftables
from leapfrog.runtime.local.network.base import (
    HOST,
    Attachment,
    NetworkError,
    NetworkProvider,
    Policy,
)
from leapfrog.runtime.local.network.setns import in_namespace
from leapfrog.shared.files import atomic_write_json, read_json

__all__ = ["NETNS_DIR", "NamespaceNetwork", "Record", "default_subnet", "release", "unavailable"]

NETNS_DIR = Path("/run/netns")
RECORD = "network.json"
_IFNAME = "eth0"
_LOCK = threading.Lock()
"""Instances start in parallel worker threads: one makes the bridge, one writes the record."""


def stack_id(state_dir: Path) -> str:
    return hashlib.sha256(os.fsencode(state_dir)).hexdigest()[:8]


def default_subnet(state_dir: Path) -> ipaddress.IPv4Network:
    """A /24 inside 10.231.0.0/16 derived from the state dir, as loopback networks are."""
    digest = hashlib.sha256(os.fsencode(state_dir)).digest()
    return ipaddress.IPv4Network(f"10.231.{digest[0]}.0/24")


def unavailable() -> str | None:
    """Why namespaces cannot be made here, or None."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if cni.plugin_dir("bridge", "host-local", "loopback") is None:
        dirs = " or ".join(str(d) for d in cni.PLUGIN_DIRS)
        return f"the CNI plugins are not in {dirs} (apt-get install containernetworking-plugins)"
    missing = [p for p in ("nft", "ip") if not _which(p)]
    if missing:
        return f"{' and '.join(missing)} not found (apt-get install nftables iproute2)"
    return None


def _which(program: str) -> bool:
    import shutil

    return any(shutil.which(program, path=p) for p in (None, "/usr/sbin:/sbin"))


class Record:
    """What the stack made, in the state dir: read before anything is removed."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / RECORD

    def read(self) -> dict[str, Any]:
        data = read_json(self.path)
        return data if isinstance(data, dict) else {}

    def write(self, data: dict[str, Any]) -> None:
        atomic_write_json(self.path, data)
        os.chmod(self.path, 0o600)


class NamespaceNetwork(NetworkProvider):
    kind = "namespaces"

    def __init__(self, state_dir: Path, addresses_file: Path, subnet: str | None) -> None:
        self._state_dir = state_dir
        self._id = stack_id(state_dir)
        self._net = ipaddress.IPv4Network(subnet) if subnet else default_subnet(state_dir)
        self._gateway = str(next(self._net.hosts()))
        self._book = AddressBook(addresses_file, self._net)
        self.names = nftables.Names(
            table=f"leapfrog_{self._id}",
            bridge=f"lf{self._id}",
            subnet=str(self._net),
            gateway=self._gateway,
        )

    def addresses(self, names: Sequence[str]) -> dict[str, str]:
        return self._book.assign(names)

    def attachment(self, name: str, address: str, *, host_network: bool = False) -> Attachment:
        if host_network:
            return HOST
        return NamespaceAttachment(self, name, address)

    def host_endpoint(self, endpoint: str) -> str:
        port = endpoint.rpartition(":")[2]
        return f"{self._gateway}:{port}"

    def enforce(self, policy: Policy) -> None:
        with _LOCK:
            self._remember()
        nftables.apply_script(nftables.render(policy, self.names))

    def netns_name(self, instance: str) -> str:
        return f"lf{self._id}-{instance}"

    def network_config(self) -> dict[str, Any]:
        """The bridge plugin's configuration: no gateway of its own (it would turn on IP
        forwarding for the whole host), no masquerading; the route out is to the bridge's
        address, which leapfrog gives the bridge itself."""
        return {
            "cniVersion": cni.CNI_VERSION,
            "name": f"leapfrog-{self._id}",
            "type": "bridge",
            "bridge": self.names.bridge,
            "isGateway": False,
            "ipMasq": False,
            "hairpinMode": False,
            "ipam": {
                "type": "host-local",
                "dataDir": str(self._state_dir / "cni"),
                "ranges": [[{"subnet": str(self._net), "gateway": self._gateway}]],
                "routes": [{"dst": "0.0.0.0/0", "gw": self._gateway}],
            },
        }

    def _remember(self, netns: str | None = None) -> dict[str, Any]:
        """Written down before made (under _LOCK): the bridge, table and this netns."""
        record = Record(self._state_dir)
        data = record.read()
        fresh = {
            "bridge": self.names.bridge,
            "table": self.names.table,
            "subnet": self.names.subnet,
            "gateway": self._gateway,
            "config": self.network_config(),
        }
        namespaces = dict(data.get("namespaces", {}))
        if netns is not None:
            namespaces.setdefault(netns, {"created": False})
        wanted = fresh | {"namespaces": namespaces}
        if wanted != data:
            record.write(wanted)
        return wanted

    def attach(self, instance: str, address: str) -> None:
        netns = self.netns_name(instance)
        path = NETNS_DIR / netns
        with _LOCK:
            data = self._remember(netns)
            done = data["namespaces"][netns].get("created") and path.exists()
            if done and _has_address(path, address):
                return
            if path.exists() and not data["namespaces"][netns].get("created"):
                raise NetworkError(
                    f"network namespace {netns} exists and leapfrog did not make it; "
                    f"remove it (ip netns delete {netns}) if it is a leftover"
                )
            plugins = cni.plugin_dir("bridge", "host-local", "loopback")
            if plugins is None:
                raise NetworkError("the CNI plugins are gone (containernetworking-plugins)")
            config = self.network_config() | {"args": {"cni": {"ips": [address]}}}
            where = {"container_id": netns, "netns": path, "path": plugins}
            if path.exists():
                # Made before, lost its interface: start over from nothing.
                with contextlib.suppress(NetworkError):
                    cni.run_plugin("DEL", config, ifname=_IFNAME, **where)  # type: ignore[arg-type]
            else:
                # The IPAM's record of an earlier namespace of the same name (a reboot).
                with contextlib.suppress(NetworkError):
                    cni.run_plugin("DEL", config, ifname=_IFNAME, **where)  # type: ignore[arg-type]
                _ip("netns", "add", netns)
            data["namespaces"][netns] = {"created": True}
            Record(self._state_dir).write(data)
            loopback = {"cniVersion": cni.CNI_VERSION, "name": "lo", "type": "loopback"}
            cni.run_plugin("ADD", loopback, ifname="lo", **where)  # type: ignore[arg-type]
            cni.run_plugin("ADD", config, ifname=_IFNAME, **where)  # type: ignore[arg-type]
            _prepare_inside(path, self._gateway)
            self._bridge_ready()

    def _bridge_ready(self) -> None:
        bridge = self.names.bridge
        # A bridge takes the lowest MAC of its ports unless given one: each new instance
        # would change it, and the others' ARP entries for the host would go stale.
        mac = "02:" + ":".join(self._id[i : i + 2] for i in range(0, 8, 2)) + ":01"
        _ip("link", "set", "dev", bridge, "address", mac)
        _ip("addr", "replace", f"{self._gateway}/{self._net.prefixlen}", "dev", bridge)
        # Connections to the catalog at 127.x are translated from the bridge's address.
        conf = Path("/proc/sys/net/ipv4/conf") / bridge / "route_localnet"
        conf.write_text("1\n")


class NamespaceAttachment(Attachment):
    def __init__(self, network: NamespaceNetwork, instance: str, address: str) -> None:
        self._network = network
        self._instance = instance
        self._address = address
        self.netns = network.netns_name(instance)

    def attach(self) -> None:
        self._network.attach(self._instance, self._address)

    @contextlib.contextmanager
    def entered(self) -> Iterator[None]:
        try:
            with in_namespace(NETNS_DIR / str(self.netns)):
                yield
        except FileNotFoundError:
            raise NetworkError(f"network namespace {self.netns} is gone") from None


def _prepare_inside(path: Path, gateway: str) -> None:
    """The namespace's own settings, from this thread entered into it (its /proc/sys/net
    is the namespace's; `nft` started meanwhile runs there too): no IPv6 link-local path
    around the IPv4 firewall, and DNS to a loopback resolver sent to the bridge."""
    try:
        with in_namespace(path):
            Path("/proc/sys/net/ipv6/conf/all/disable_ipv6").write_text("1\n")
            # Packets to 127.0.0.53 leave from 127.0.0.1 until masqueraded on the way out.
            Path(f"/proc/sys/net/ipv4/conf/{_IFNAME}/route_localnet").write_text("1\n")
            nftables.apply_script(nftables.render_inside(gateway, _IFNAME))
    except OSError as exc:
        raise NetworkError(f"cannot set up network namespace {path.name}: {exc}") from None


def _ip(*args: str) -> None:
    try:
        done = subprocess.run(["ip", *args], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NetworkError(f"ip {' '.join(args)} failed: {exc}") from None
    if done.returncode != 0:
        raise NetworkError(f"ip {' '.join(args)}: {done.stderr.decode().strip()}")


def _has_address(path: Path, address: str) -> bool:
    done = subprocess.run(
        ["ip", "-n", path.name, "-4", "-o", "addr", "show", "dev", _IFNAME],
        capture_output=True,
        timeout=30,
        check=False,
    )
    return done.returncode == 0 and f" {address}/" in done.stdout.decode()


def release(state_dir: Path) -> list[str]:
    """Remove what the record says the stack made: namespaces (after the CNI's DEL, which
    frees their addresses and veth pairs), the bridge, the nft tables. What could not be
    removed, in words; the record stays until everything is gone."""
    record = Record(state_dir)
    data = record.read()
    if not data:
        return []
    left: list[str] = []
    plugins = cni.plugin_dir("bridge", "host-local")
    config = data.get("config")
    for netns in sorted(data.get("namespaces", {})):
        path = NETNS_DIR / netns
        if plugins is not None and isinstance(config, dict):
            with contextlib.suppress(NetworkError):
                cni.run_plugin(
                    "DEL", config, container_id=netns, netns=path, ifname=_IFNAME, path=plugins
                )
        if path.exists():
            try:
                _ip("netns", "delete", netns)
            except NetworkError as exc:
                left.append(str(exc))
    bridge = str(data.get("bridge", ""))
    if bridge and (Path("/sys/class/net") / bridge).exists():
        try:
            _ip("link", "delete", bridge, "type", "bridge")
        except NetworkError as exc:
            left.append(str(exc))
    table = str(data.get("table", ""))
    if table:
        try:
            left += nftables.delete_tables(table)
        except NetworkError as exc:
            left.append(str(exc))
    if not left:
        with contextlib.suppress(FileNotFoundError):
            record.path.unlink()
        import shutil

        shutil.rmtree(state_dir / "cni", ignore_errors=True)
    return left
