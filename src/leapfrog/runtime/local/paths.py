"""The state directory's layout: one place that knows where every file lives."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

__all__ = ["StatePaths"]

_SOCKET_PATH_MAX = 100  # sun_path holds 108 bytes; keep a margin


class StatePaths(NamedTuple):
    """(A NamedTuple, not a dataclass: `leapfrog scale` reads it before sending its
    request, and `dataclasses` costs ~8 ms of CPU to import; cli/quick.py.)"""

    root: Path

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def state_file(self) -> Path:
        """Live record of the supervisor and every instance (pids, states)."""
        return self.run / "state.json"

    @property
    def addresses_file(self) -> Path:
        return self.run / "addresses.json"

    @property
    def cgroup_record(self) -> Path:
        """Where this stack's cgroups are (see runtime.local.cgroups)."""
        return self.run / "cgroup"

    @property
    def pipes(self) -> Path:
        """The FIFOs instances write their output to (see runtime.local.logwriter)."""
        return self.run / "pipes"

    @property
    def supervisor_log(self) -> Path:
        return self.logs / "supervisor.log"

    @property
    def control_socket(self) -> Path:
        """Unix socket of the supervisor; moved to /tmp when the state dir's path is too long."""
        path = self.run / "control.sock"
        if len(os.fsencode(path)) <= _SOCKET_PATH_MAX:
            return path
        import hashlib  # loads OpenSSL: only for a long state dir's path

        digest = hashlib.sha256(os.fsencode(self.root)).hexdigest()[:20]
        return Path("/tmp") / f"leapfrog-{os.getuid()}" / f"{digest}.sock"

    @property
    def secrets(self) -> Path:
        """Generated tokens and passwords: readable by the stack's owner only."""
        return self.root / "secrets"

    @property
    def catalog_token(self) -> Path:
        """The catalog's management token (the supervisor's own)."""
        return self.secrets / "catalog-token"

    @property
    def catalog_tokens(self) -> Path:
        """The catalog's per-purpose tokens and their rules (dns, read, services)."""
        return self.secrets / "catalog-tokens.json"

    def instance_log(self, instance: str) -> Path:
        return self.logs / f"{instance}.log"

    def instance_data(self, instance: str) -> Path:
        return self.data / instance

    def create(self) -> None:
        for path in (self.run, self.logs, self.data, self.secrets):
            path.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)
        self.run.chmod(0o700)
        self.secrets.chmod(0o700)
        self.control_socket.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
