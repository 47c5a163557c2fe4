"""The processes of a test control plane: started with their output in a log, checked for
life, stopped gently then firmly; and their health endpoints."""

from __future__ import annotations

import ctypes
import signal
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

from leapfrog.shared.errors import LeapfrogError
from leapfrog.shared.ports import free_port

__all__ = ["Process", "answers_ok", "free_port"]

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child before exec: a test run killed outright leaves no control plane behind
    on a machine that others share. SIGKILL, because an apiserver told to stop gracefully
    after its etcd is gone waits for etcd forever, and the cluster's data is thrown away."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class Process:
    """One program of the control plane, its output in workdir/NAME.log."""

    def __init__(self, name: str, argv: list[str], log: Path) -> None:
        self.name, self.argv, self.log = name, argv, log
        self.proc: subprocess.Popen[bytes] | None = None
        self._out: IO[bytes] | None = None

    def start(self) -> None:
        self._out = open(self.log, "ab")  # noqa: SIM115 - open for the process's lifetime
        self.proc = subprocess.Popen(
            self.argv,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - prctl only, no locks taken
        )

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise LeapfrogError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")

    def tail(self, lines: int = 25) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:]) + f"\n(whole log: {self.log})"

    def stop(self, timeout: float = 15) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None
        if self._out is not None:
            self._out.close()
            self._out = None


def answers_ok(url: str, ca: Path | None = None, token: str = "") -> bool:
    """200 from `url`: with `ca` and `token` checked as the apiserver; without, on the
    certificate the program made itself at start."""
    context: ssl.SSLContext | None = None
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if url.startswith("https://"):
        if ca is not None:
            context = ssl.create_default_context(cafile=str(ca))
        else:
            # The controllers serve health on certificates they make themselves at start.
            context = ssl._create_unverified_context()
    try:
        request = urllib.request.Request(url, headers=headers)
        with urllib.request.urlopen(request, context=context, timeout=2) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False
