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
        down = stack.down()
        assert down.code == 0, down.output
