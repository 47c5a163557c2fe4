"""Name resolution inside isolated instances: whatever resolver the host's resolv.conf
names, an instance's DNS queries reach the catalog's DNS, which answers
`<svc>.service.consul` itself and asks its `recursors` (a real DNS server started
here) the rest; a name nobody serves fails at once instead of timing out. The C
library's `getaddrinfo` inside the instance is what is measured.

Addresses: the bridge 10.77.14.0/24, the catalog 127.0.0.1:18733 (HTTP) and :18734
(DNS), the service port 18741, the upstream DNS server 127.0.97.53:18753; no other
test uses them."""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from leapfrog.runtime.local.network.namespaces import unavailable
from leapfrog.shared.resolvers import host_nameservers
from leapfrog.testing import StackDir, UpstreamDns

from ..conftest import APPS, PYTHON

pytestmark = pytest.mark.skipif(
    unavailable() is not None, reason=f"network namespaces unavailable: {unavailable()}"
)

PORT = 18741
UPSTREAM = ("127.0.97.53", 18753)

STACK = f"""
catalog:
  http: 127.0.0.1:18733
  dns: 127.0.0.1:18734
  recursors: ["{UPSTREAM[0]}:{UPSTREAM[1]}"]
network:
  isolation: namespaces
  subnet: 10.77.14.0/24
services:
  resolver:
    command: {PYTHON} resolve_report.py
    port: {PORT}
    check: {{tcp: true}}
"""


@pytest.fixture
def stack() -> Iterator[StackDir]:
    with StackDir() as made:
        made.copy_in(APPS / "resolve_report.py")
        yield made


def resolve_inside(address: str, *names: str) -> dict[str, Any]:
    with socket.create_connection((address, PORT), timeout=60) as conn:
        conn.sendall((" ".join(names) + "\n").encode())
        conn.shutdown(socket.SHUT_WR)
        data = b"".join(iter(lambda: conn.recv(65536), b""))
    found: dict[str, Any] = json.loads(data)
    return found


_RESOLVE = """
import json, socket, sys
found = {}
for name in sys.argv[1:]:
    try:
        infos = socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_STREAM)
        found[name] = {"addresses": sorted({i[4][0] for i in infos})}
    except OSError as exc:
        found[name] = {"error": type(exc).__name__}
print(json.dumps(found))
"""


def resolve_with_loopback_resolver(stack: StackDir, pid: int, *names: str) -> dict[str, Any]:
    conf = stack.root / "resolv-loopback.conf"
    conf.write_text("nameserver 127.0.0.53\noptions timeout:5 attempts:1\n")
    script = 'mount --bind "$0" /etc/resolv.conf && exec "$@"'
    enter = ["nsenter", "-t", str(pid), "-n", "unshare", "-m", "--propagation", "private"]
    done = subprocess.run(
        [*enter, "sh", "-c", script, str(conf), PYTHON, "-c", _RESOLVE, *names],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    found: dict[str, Any] = json.loads(done.stdout)
    return found


@pytest.mark.skipif(not host_nameservers(), reason="the host's resolv.conf names no resolver")
def test_an_isolated_instance_resolves_catalog_and_upstream_names(stack: StackDir) -> None:
    records = {"db.upstream.test": "192.0.2.44"}
    with UpstreamDns(*UPSTREAM, records=records) as upstream:
        stack.write(STACK)
        up = stack.up()
        assert up.code == 0, up.output
        instance = stack.instance("resolver-1")
        address = instance["address"]
        assert address.startswith("10.77.14.")

        found = resolve_inside(
            address, "resolver.service.consul", "db.upstream.test", "nobody.upstream.test"
        )
        # The catalog's own name: the instance's address on the bridge.
        assert found["resolver.service.consul"].get("addresses") == [address], found
        # Another name: asked of the recursor, through the catalog.
        assert found["db.upstream.test"].get("addresses") == ["192.0.2.44"], found
        assert "db.upstream.test." in upstream.questions
        # A name nobody serves fails at once (NXDOMAIN passed through), where it used to
        # wait for the unreachable resolver's timeout (5 s a try, as resolv.conf's default).
        nobody = found["nobody.upstream.test"]
        assert nobody["error"] == "gaierror" and nobody["errno"] == socket.EAI_NONAME, found
        assert nobody["seconds"] < 2.5, found

        # A host whose resolv.conf names a loopback resolver (systemd-resolved's
        # 127.0.0.53): in the instance's namespace nobody listens there; its queries go
        # to the catalog all the same. (That resolv.conf only in a private mount
        # namespace of this probe: nothing of the host's changes.)
        loopback = resolve_with_loopback_resolver(
            stack, instance["pid"], "resolver.service.consul", "db.upstream.test"
        )
        assert loopback["resolver.service.consul"].get("addresses") == [address], loopback
        assert loopback["db.upstream.test"].get("addresses") == ["192.0.2.44"], loopback
        down = stack.down()
        assert down.code == 0, down.output
