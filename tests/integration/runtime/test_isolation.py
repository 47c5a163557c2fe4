"""`network: {isolation: namespaces}` with real processes: each instance in a network
namespace of its own on the stack's bridge, the firewall from `callers:`, changed live,
and nothing left after `down`.

Addresses: the bridge 10.77.13.0/24, the catalog 127.0.0.1:18731 (HTTP) and :18732 (DNS),
the service port 18740; no other test uses them."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from leapfrog.runtime.local.network.namespaces import NETNS_DIR, stack_id, unavailable
from leapfrog.testing import StackDir

from ..conftest import APPS, PYTHON

pytestmark = pytest.mark.skipif(
    unavailable() is not None, reason=f"network namespaces unavailable: {unavailable()}"
)

SUBNET = "10.77.13.0/24"
GATEWAY = "10.77.13.1"
PORT = 18740


def stack_text(callers: list[str]) -> str:
    return f"""
catalog:
  http: 127.0.0.1:18731
  dns: 127.0.0.1:18732
network:
  isolation: namespaces
  subnet: {SUBNET}
services:
  api:
    command: {PYTHON} tcp_hello.py
    port: {PORT}
    check: {{tcp: true}}
    callers: [{", ".join(callers)}]
  web:
    command: sleep 600
  other:
    command: sleep 600
"""


_PROBE = """
import socket, sys
s = socket.socket()
s.settimeout(1.5)
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    print("ok", s.recv(16).decode())
except OSError as exc:
    print("failed", type(exc).__name__)
"""


def connect_from(pid: int, host: str, port: int) -> str:
    """A TCP connection from inside the network namespace of process `pid`."""
    done = subprocess.run(
        ["nsenter", "-t", str(pid), "-n", sys.executable, "-c", _PROBE, host, str(port)],
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    )
    return done.stdout.strip()


def netns_of(pid: int) -> str:
    return str(Path(f"/proc/{pid}/ns/net").readlink())


@pytest.fixture
def stack() -> Iterator[StackDir]:
    with StackDir() as made:
        made.copy_in(APPS / "tcp_hello.py")
        yield made


def _ours(root: Path) -> str:
    return f"lf{stack_id(root / '.leapfrog')}"


def test_callers_decide_who_connects_live_and_down_leaves_nothing(stack: StackDir) -> None:
    stack.write(stack_text(["web"]))
    up = stack.up()
    assert up.code == 0, up.output
    status = {i["name"]: i for i in stack.status()}
    api, web, other = status["api-1"], status["web-1"], status["other-1"]
    api_host = api["address"]
    assert api_host.startswith("10.77.13.") and api["port"] == PORT
    # Each instance in a namespace of its own, none in the host's.
    spaces = {netns_of(i["pid"]) for i in (api, web, other)}
    assert len(spaces) == 3 and str(Path("/proc/self/ns/net").readlink()) not in spaces

    assert connect_from(web["pid"], api_host, PORT) == "ok hello"
    assert connect_from(other["pid"], api_host, PORT).startswith("failed")
    # The host (the load balancer, health checks, you) reaches every instance.
    with socket.create_connection((api_host, PORT), timeout=3) as conn:
        assert conn.recv(16) == b"hello"

    # Changed callers: enforced at once, nothing restarted.
    stack.write(stack_text(["other"]))
    again = stack.up()
    assert again.code == 0, again.output
    after = {i["name"]: i["pid"] for i in stack.status()}
    assert after == {n: i["pid"] for n, i in status.items()}
    assert connect_from(other["pid"], api_host, PORT) == "ok hello"
    assert connect_from(web["pid"], api_host, PORT).startswith("failed")

    # `leapfrog exec` runs in the instance's own network, behind the same firewall.
    probe = stack.cli("exec", "other-1", "web-1", "--", PYTHON, "-c", _PROBE, api_host, str(PORT))
    assert probe.code == 0, probe.output
    assert "other-1 | ok hello" in probe.stdout, probe.output
    assert "web-1 | failed" in probe.stdout, probe.output

    # The catalog's address as services see it: the bridge's own.
    env = Path(f"/proc/{web['pid']}/environ").read_bytes().split(b"\0")
    assert f"CONSUL_HTTP_ADDR={GATEWAY}:18731".encode() in env
    # Anything else of the host's is refused outright.
    assert connect_from(web["pid"], GATEWAY, 22) == "failed ConnectionRefusedError"

    ours = _ours(stack.root)
    assert any(p.name.startswith(ours) for p in NETNS_DIR.iterdir())
    down = stack.down()
    assert down.code == 0, down.output
    assert not [p.name for p in NETNS_DIR.iterdir() if p.name.startswith(ours)]
    assert not Path(f"/sys/class/net/{ours}").exists()
    tables = subprocess.run(["nft", "-j", "list", "tables"], capture_output=True, check=True)
    names = [t["table"]["name"] for t in json.loads(tables.stdout)["nftables"] if "table" in t]
    assert f"leapfrog_{ours[2:]}" not in names
    for pid in after.values():
        assert not Path(f"/proc/{pid}").exists()
    assert not (stack.root / ".leapfrog/network.json").exists()
