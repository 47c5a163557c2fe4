"""`identity:` in a real stack brought up by `leapfrog up`: the catalog runs with the
default-deny intention policy, the intentions come from `callers:`, the SDK services
serve mutual TLS and call each other with ServiceClient. An allowed caller gets 200, one
not among the callers 403 with the catalog's reason; new callers and `up` flip that
with no restart; an intention someone else made is left alone; `down` leaves nothing.

The test itself calls the services over mTLS with a leaf of its own (`tester`), let in
by an intention it writes (`tester => *`), as an operator would."""

from __future__ import annotations

import shutil
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from leapfrog.runtime.local.paths import StatePaths
from leapfrog.testing import StackDir, free_port, sdk_service_user, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

MESH_APP = Path(__file__).parents[1] / "service" / "apps" / "mesh.py"
PORT = 8000


def stack_text(http: int, dns: int, callers_of_b: list[str]) -> str:
    user = sdk_service_user()
    services = "".join(
        f"  {name}:\n"
        "    command: ${LEAPFROG_PYTHON} mesh.py\n"
        f"    port: {PORT}\n"
        "    check: {http: /health/ready}\n"
        + (f"    callers: [{', '.join(callers_of_b)}]\n" if name == "b" else "")
        + (f"    user: {user}\n" if user else "")
        for name in ("a", "b", "c")
    )
    return (
        f"catalog:\n  http: 127.0.0.1:{http}\n  dns: 127.0.0.1:{dns}\n"
        "identity:\n  mtls: true\n  default: deny\n"
        f"services:\n{services}"
    )


class Operator:
    """The catalog with the management token, and mTLS calls with the `tester` leaf."""

    def __init__(self, stack: StackDir, http: int) -> None:
        token = StatePaths(stack.root / ".leapfrog").catalog_token.read_text().strip()
        self.catalog = httpx.Client(
            base_url=f"http://127.0.0.1:{http}", headers={"X-Consul-Token": token}, timeout=10
        )
        self.dir = stack.root / "tester"
        self.dir.mkdir(mode=0o700)
        self.client: httpx.Client | None = None

    def intentions(self) -> list[dict[str, Any]]:
        answer = self.catalog.get("/v1/connect/intentions")
        answer.raise_for_status()
        found: list[dict[str, Any]] = answer.json()
        return found

    def allow_tester(self) -> None:
        answer = self.catalog.put(
            "/v1/connect/intentions/exact",
            params={"source": "tester", "destination": "*"},
            json={"Action": "allow", "Description": "the test's own"},
        )
        assert answer.status_code == 200, answer.text
        leaf = self.catalog.get("/v1/agent/connect/ca/leaf/tester").json()
        roots = self.catalog.get("/v1/agent/connect/ca/roots").json()
        (self.dir / "leaf.pem").write_text(leaf["CertPEM"])
        (self.dir / "leaf.key").write_text(leaf["PrivateKeyPEM"])
        context = ssl.create_default_context(
            cadata="".join(root["RootCert"] for root in roots["Roots"])
        )
        context.check_hostname = False  # a mesh certificate names a service, not a host
        context.load_cert_chain(self.dir / "leaf.pem", self.dir / "leaf.key")
        self.client = httpx.Client(verify=context, timeout=10)

    def call(self, instance: dict[str, Any], target: str) -> dict[str, Any]:
        """What `instance` got calling `target` with ServiceClient (its own leaf)."""
        assert self.client is not None
        answer = self.client.get(f"https://{instance['address']}:{PORT}/call/{target}")
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        self.catalog.close()


@pytest.fixture
def stack() -> Iterator[StackDir]:
    with StackDir() as made:
        shutil.copy(MESH_APP, made.root / "mesh.py")
        yield made


def test_callers_decide_over_mtls_and_change_live(stack: StackDir) -> None:
    http, dns = free_port(), free_port()
    stack.write(stack_text(http, dns, ["a"]))
    up = stack.up(timeout=180)
    assert up.code == 0, up.output
    status = {i["name"]: i for i in stack.status()}
    pids = {name: item["pid"] for name, item in status.items()}
    a, c = status["a-1"], status["c-1"]

    operator = Operator(stack, http)
    try:
        # The intentions `up` wrote from the callers, marked as leapfrog's.
        ours = [(i["SourceName"], i["DestinationName"], i["Action"]) for i in operator.intentions()]
        assert ours == [("a", "b", "allow")]
        assert operator.intentions()[0]["Meta"] == {"managed-by": "leapfrog"}

        # Without a certificate, nothing but the health endpoints.
        plain = httpx.get(f"https://{a['address']}:{PORT}/", verify=False, timeout=10)
        assert plain.status_code == 403

        operator.allow_tester()
        assert operator.call(a, "b") == {"status": 200, "body": "b called by a"}
        denied = operator.call(c, "b")
        assert denied["status"] == 403
        assert denied["body"] == "caller 'c' is not allowed: Default intention policy"

        # New callers, `up` again: the intentions change, nothing restarts.
        stack.write(stack_text(http, dns, ["c"]))
        again = stack.up(timeout=180)
        assert again.code == 0, again.output
        assert "intentions: allow c => b, remove a => b" in again.output
        wait_until(
            lambda: operator.call(c, "b") == {"status": 200, "body": "b called by c"},
            timeout=5,
            what="c let in",
        )
        wait_until(lambda: operator.call(a, "b")["status"] == 403, timeout=5, what="a refused")
        assert {i["name"]: i["pid"] for i in stack.status()} == pids

        # The test's own intention is not leapfrog's: it stays.
        pairs = {(i["SourceName"], i["DestinationName"]) for i in operator.intentions()}
        assert pairs == {("c", "b"), ("tester", "*")}

        # Nothing changed: said so.
        same = stack.up(timeout=180)
        assert same.code == 0, same.output
        assert "nothing changed" in same.output
    finally:
        operator.close()

    down = stack.down()
    assert down.code == 0, down.output
    assert [name for name, pid in pids.items() if Path(f"/proc/{pid}").exists()] == []


def lb_stack_text(http: int, dns: int, listen: str, stats: str, engine: str = "haproxy") -> str:
    user = sdk_service_user()
    return (
        f"catalog:\n  http: 127.0.0.1:{http}\n  dns: 127.0.0.1:{dns}\n"
        "identity: true\n"
        f"components:\n  lb:\n    engine: {engine}\n    listen: {listen}\n    stats: {stats}\n"
        "services:\n"
        "  b:\n"
        "    command: ${LEAPFROG_PYTHON} mesh.py\n"
        f"    port: {PORT}\n"
        "    route: {path: /b, strip_prefix: true}\n"
        "    check: {http: /health/ready}\n" + (f"    user: {user}\n" if user else "")
    )


@pytest.mark.parametrize("engine", ["haproxy", "nginx"])
def test_the_load_balancer_presents_its_own_identity(stack: StackDir, engine: str) -> None:
    http, dns = free_port(), free_port()
    listen, stats = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    stack.write(lb_stack_text(http, dns, listen, stats, engine))
    up = stack.up(timeout=180)
    assert up.code == 0, up.output

    def through_lb() -> httpx.Response | None:
        try:
            answer = httpx.get(f"http://{listen}/b/", timeout=5)
        except httpx.HTTPError:
            return None
        return answer if answer.status_code == 200 else None

    answer = wait_until(through_lb, timeout=30, what="b served through the lb over mTLS")
    assert answer.text == "b called by lb"
    operator = Operator(stack, http)
    try:
        pairs = {(i["SourceName"], i["DestinationName"]) for i in operator.intentions()}
        assert pairs == {("lb", "b")}
    finally:
        operator.close()
    # The lb's certificate and the roots, as files only its user reads.
    mesh = next((stack.root / ".leapfrog").rglob("mesh"))
    files = sorted(p.name for p in mesh.iterdir())
    assert len(files) == 2 and files[0].startswith("lb-") and files[1].startswith("roots-")
    assert all((mesh / f).stat().st_mode & 0o077 == 0 for f in files)


def toggle_stack_text(http: int, dns: int, listen: str, stats: str, identity: bool) -> str:
    """a, b, c on the SDK, b routed and called by a alone; identity on or off."""
    user = sdk_service_user()
    services = "".join(
        f"  {name}:\n"
        "    command: ${LEAPFROG_PYTHON} mesh.py\n"
        f"    port: {PORT}\n"
        "    check: {http: /health/ready}\n"
        + ("    route: {path: /b, strip_prefix: true}\n    callers: [a]\n" if name == "b" else "")
        + (f"    user: {user}\n" if user else "")
        for name in ("a", "b", "c")
    )
    return (
        f"catalog:\n  http: 127.0.0.1:{http}\n  dns: 127.0.0.1:{dns}\n"
        + ("identity:\n  mtls: true\n  default: deny\n" if identity else "")
        + f"components:\n  lb:\n    listen: {listen}\n    stats: {stats}\n"
        + f"services:\n{services}"
    )


LB_RESTART = {"ConnectError", "ReadError", "RemoteProtocolError"}
"""What a client sees while the load balancer restarts: refused connections, and a kept
one closed under a request."""


class Traffic:
    """GETs through the load balancer every 20 ms in a thread, each outcome kept."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.outcomes: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with httpx.Client(timeout=5) as client:
            while not self._stop.is_set():
                try:
                    answer = client.get(self.url)
                    outcome = f"{answer.status_code} {answer.text}"
                except httpx.HTTPError as exc:
                    outcome = type(exc).__name__
                self.outcomes.append((time.monotonic(), outcome))
                time.sleep(0.02)

    def stop(self) -> list[tuple[float, str]]:
        self._stop.set()
        self._thread.join(10)
        return self.outcomes


def test_identity_turned_on_and_off_in_a_running_stack(stack: StackDir) -> None:
    http, dns = free_port(), free_port()
    listen, stats = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    stack.write(toggle_stack_text(http, dns, listen, stats, identity=False))
    up = stack.up(timeout=180)
    assert up.code == 0, up.output

    def through_lb(expected: str) -> Callable[[], bool]:
        def check() -> bool:
            try:
                answer = httpx.get(f"http://{listen}/b/", timeout=5)
            except httpx.HTTPError:
                return False
            return answer.status_code == 200 and answer.text == expected

        return check

    def plain_call(caller: str, target: str) -> dict[str, Any]:
        address = {i["name"]: i["address"] for i in stack.status()}[f"{caller}-1"]
        answer = httpx.get(f"http://{address}:{PORT}/call/{target}", timeout=10)
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    wait_until(through_lb("b called by None"), timeout=30, what="b through the lb, plain")
    assert plain_call("c", "b") == {"status": 200, "body": "b called by None"}

    # Identity on: the services come back serving mTLS, the lb presents its own.
    traffic = Traffic(f"http://{listen}/b/")
    stack.write(toggle_stack_text(http, dns, listen, stats, identity=True))
    on = stack.up(timeout=180)
    assert on.code == 0, on.output
    wait_until(through_lb("b called by lb"), timeout=60, what="b through the lb over mTLS")
    operator = Operator(stack, http)
    try:
        operator.allow_tester()
        status = {i["name"]: i for i in stack.status()}
        wait_until(
            lambda: operator.call(status["a-1"], "b") == {"status": 200, "body": "b called by a"},
            timeout=10,
            what="a calls b over mTLS",
        )
        denied = operator.call(status["c-1"], "b")
        assert denied == {
            "status": 403,
            "body": "caller 'c' is not allowed: Default intention policy",
        }
    finally:
        operator.close()
    outcomes = traffic.stop()
    served = [o for _, o in outcomes if o.startswith("200 ")]
    assert served[-1] == "200 b called by lb"
    # What failed is the lb's own restart (its environment changes): refused (or, once,
    # closed) connections for about a second, never an answer of an error or a 403.
    failed = [o for _, o in outcomes if not o.startswith("200 ")]
    assert set(failed) <= LB_RESTART, failed

    # Off again: plain HTTP everywhere, as before.
    traffic = Traffic(f"http://{listen}/b/")
    stack.write(toggle_stack_text(http, dns, listen, stats, identity=False))
    off = stack.up(timeout=180)
    assert off.code == 0, off.output
    wait_until(through_lb("b called by None"), timeout=60, what="b through the lb, plain again")
    wait_until(
        lambda: plain_call("c", "b") == {"status": 200, "body": "b called by None"},
        timeout=10,
        what="c calls b in plain HTTP",
    )
    outcomes = traffic.stop()
    failed = [o for _, o in outcomes if not o.startswith("200 ")]
    assert set(failed) <= LB_RESTART, failed
    assert outcomes[-1][1] == "200 b called by None"

    down = stack.down()
    assert down.code == 0, down.output
