"""Under load (wrk, loopback, bounded in time): instances added, drained with SIGTERM and
killed with SIGKILL while requests flow through the load balancer, and none fails."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .conftest import Backend, Balancer, wait_for

WRK = "/usr/bin/wrk"
CONNECTIONS = 8
CHECK_INTERVAL = 1.0
"""The instances' HTTP check interval in the catalog (backend.py)."""


def wrk(url: str, seconds: int, *extra: str) -> dict[str, int | str]:
    done = subprocess.run(
        [
            WRK,
            "-t",
            "2",
            "-c",
            str(CONNECTIONS),
            "-d",
            f"{seconds}s",
            "--timeout",
            "5s",
            *extra,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    )
    out = done.stdout
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    requests = re.search(r"(\d+) requests in", out)
    assert requests, out
    return {
        "requests": int(requests.group(1)),
        "socket_errors": sum(int(n) for n in errors.groups()) if errors else 0,
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "errors": errors.group(0) if errors else "",
    }


def admin_state(balancer_dir: Path, port: int) -> str:
    """`ready` while HAProxy would send requests to 127.0.0.1:port (in whichever backend of
    the pool serves it), else `out`."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(balancer_dir / "run" / "admin.sock"))
        sock.sendall(b"show servers state\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    for line in answer.decode().splitlines():
        words = line.split()
        # columns: be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state ...
        ours = len(words) > 18 and words[4] == "127.0.0.1" and words[18] == str(port)
        if ours and words[6] == "0" and words[5] == "2":
            return "ready"
    return "out"


def test_rolling_changes_under_load_drop_nothing(
    balancer: Balancer, backends: Callable[..., Backend], lb_dir: Path
) -> None:
    name = f"load-{balancer.engine}"
    path = f"/{name}"
    a = backends(name, f"{name}-a", path, 1.5)
    b = backends(name, f"{name}-b", path, 1.5)
    wait_for("both served", lambda: balancer.served_by(path) == {a.ident, b.ident})
    result: dict[str, int | str] = {}
    load = threading.Thread(target=lambda: result.update(wrk(f"http://{balancer.listen}{path}", 9)))
    began = time.time()
    load.start()
    time.sleep(1.5)
    c = backends(name, f"{name}-c", path, 1.5)  # added
    time.sleep(1.5)
    a.signal(signal.SIGTERM)  # drained: deregisters, serves 1.5 s more, leaves
    time.sleep(1.0)
    # A new service whose strip_prefix is deeper than the configuration handles: a
    # reload under load (HAProxy's seamless one; a shallower one would need none).
    deep = f"{path}-extra/" + "/".join("abcdefghi")
    backends(f"{name}-extra", f"{name}-extra-1", deep, strip=True)
    time.sleep(1.0)
    d = backends(name, f"{name}-d", path, 1.5)
    time.sleep(1.0)
    if balancer.engine == "haproxy":
        assert admin_state(lb_dir / "haproxy", b.port) == "ready"
    b.signal(signal.SIGKILL)  # killed: nobody tells the catalog
    killed = time.monotonic()
    if balancer.engine == "haproxy":
        wait_for(
            "the killed instance out of the backend",
            lambda: admin_state(lb_dir / "haproxy", b.port) == "out",
            timeout=30,
        )
        gone_after = time.monotonic() - killed
        # One check interval for the catalog to see it, plus its 1 s check timeout and
        # the propagation to HAProxy; generous, since two cores are shared.
        assert gone_after < CHECK_INTERVAL + 1.0 + 2.0, gone_after
    load.join()
    applied = [e for e in balancer.kinds("lb.applied") if e["live_at"] >= began]
    reloads = [e for e in applied if e["how"] == "reload"]
    print(balancer.engine, result, f"{len(applied)} changes, {len(reloads)} reloads")
    assert result["requests"] > 0
    assert result["non2xx"] == 0, result
    if balancer.engine == "haproxy":
        assert reloads, "the deep strip_prefix should have cost one reload"
        assert result["socket_errors"] == 0, result
    else:
        # nginx's old workers close their idle keep-alive connections when they stop,
        # racing the client's next request on them (open-source nginx has no way around
        # it): at most one failed request per client connection per reload.
        assert result["socket_errors"] <= CONNECTIONS * len(reloads), (result, len(reloads))
    assert balancer.served_by(path) == {c.ident, d.ident}
