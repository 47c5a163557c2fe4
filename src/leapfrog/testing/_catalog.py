"""`leapfrog catalog serve` as a real process on free loopback ports, for tests that need
a catalog (the SDK's, the load balancer's) without a whole stack."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

__all__ = ["CatalogProcess"]

_READY = re.compile(r"catalog ready: http=([\d.]+):(\d+) dns=([\d.]+):(\d+)")


class CatalogProcess:
    """One catalog subprocess over a data directory; restartable, and it keeps its ports
    across restarts so clients can reconnect. `extra` are more `catalog serve` options,
    such as `--acl-token-file F`. Without an `--acl...` option it runs `--acl off`, the
    open catalog most tests of other parts want (`catalog serve` itself has ACL on)."""

    def __init__(self, data_dir: Path, *extra: str, node: str = "itest") -> None:
        self.data_dir = data_dir
        self.extra = extra
        self.node = node
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0
        self.dns_port = 0

    @property
    def http_addr(self) -> str:
        """`127.0.0.1:PORT`, the form of CONSUL_HTTP_ADDR."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "leapfrog", "catalog", "serve"]
        command += ["--http", f"127.0.0.1:{self.port}", "--dns", f"127.0.0.1:{self.dns_port}"]
        command += ["--data-dir", str(self.data_dir), "--node", self.node, *self.extra]
        if not any(option.startswith("--acl") for option in self.extra):
            command += ["--acl", "off"]
        with open(self.data_dir.parent / "catalog.log", "a") as log:
            self.proc = subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        match = _READY.search(line)
        if not match:
            self.proc.kill()
            raise RuntimeError(f"the catalog did not start: {line!r}; see {log.name}")
        self.port, self.dns_port = int(match.group(2)), int(match.group(4))

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Stop with `sig` (SIGKILL for a crash) and return the exit status."""
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=15)
        self.proc = None
        return code

    def __enter__(self) -> CatalogProcess:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.proc is not None:
            self.stop()
