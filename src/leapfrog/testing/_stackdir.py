from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from leapfrog.shared.users import blocked_at, ensure_user

__all__ = ["CliResult", "StackDir", "run_cli", "sdk_service_user", "wait_until"]

T = TypeVar("T")


@dataclass(frozen=True)
class CliResult:
    code: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_cli(
    *args: str, cwd: Path | None = None, timeout: float = 120, env: dict[str, str] | None = None
) -> CliResult:
    """Run `leapfrog ARGS` in a child interpreter, as a user would."""
    started = time.monotonic()
    full_env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "leapfrog", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)


def sdk_service_user() -> str | None:
    """The `user:` a test's SDK services need: they run `${LEAPFROG_PYTHON}`, this very
    interpreter, which the app user cannot reach when the checkout sits in a folder only
    root may enter (a 0700 temp dir); then root. None: the default app user will do."""
    if os.geteuid() != 0:
        return None
    blocked = blocked_at(Path(sys.executable).parent, ensure_user("leapfrog"))
    return None if blocked is None else "root"


def wait_until(
    probe: Callable[[], T | None],
    timeout: float = 10.0,
    interval: float = 0.05,
    what: str = "condition",
) -> T:
    """Poll `probe` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def _still_running(state_file: Path) -> list[int]:
    """Pids of the supervisor and instances in state_file that still run."""
    from leapfrog.shared.procs import is_running

    try:
        state = json.loads(state_file.read_text())
    except (OSError, ValueError):
        return []
    records = [state.get("supervisor") or {}, *state.get("instances", [])]
    return [
        r["pid"]
        for r in records
        if isinstance(r.get("pid"), int) and is_running(r["pid"], r.get("start_ticks"))
    ]


class StackDir:
    """A directory with a stack file; `down()` on exit whatever happened."""

    def __init__(
        self, text: str = "", prefix: str = "leapfrog-test-", *, catalog: bool = True
    ) -> None:
        """`catalog=False` turns the stack's catalog off unless a text configures it:
        for tests of the supervisor alone, which then need no free catalog ports."""
        self.catalog = catalog
        self.root = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
        self.root.chmod(0o755)
        self.stack_file = self.root / "leapfrog.yaml"
        if text:
            self.write(text)

    def write(self, text: str) -> None:
        if not self.catalog and not any(line.startswith("catalog:") for line in text.splitlines()):
            text = text.rstrip("\n") + "\ncatalog: {enabled: false}\n"
        self.stack_file.write_text(text)

    def copy_in(self, source: Path) -> Path:
        target = self.root / source.name
        shutil.copy(source, target)
        target.chmod(0o755)
        return target

    def cli(self, *args: str, timeout: float = 120) -> CliResult:
        return run_cli(*args, cwd=self.root, timeout=timeout)

    def up(self, *extra: str, timeout: float = 120) -> CliResult:
        return self.cli("up", "-d", *extra, timeout=timeout)

    def down(self) -> CliResult:
        return self.cli("down")

    def status(self) -> list[dict[str, Any]]:
        result = self.cli("status", "--json")
        assert result.code == 0, result.output
        data: list[dict[str, Any]] = json.loads(result.stdout)
        return data

    def instance(self, name: str) -> dict[str, Any]:
        for item in self.status():
            if item["name"] == name:
                return item
        raise AssertionError(f"no instance {name} in status")

    def state_file(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.root / ".leapfrog/run/state.json").read_text())
        return data

    def log(self, instance: str) -> str:
        return (self.root / ".leapfrog/logs" / f"{instance}.log").read_text(errors="replace")

    def close(self) -> None:
        """`leapfrog down`, then kill whatever it left (a test must never leak processes)."""
        if (self.root / ".leapfrog").exists():
            result = self.down()
            left = _still_running(self.root / ".leapfrog/run/state.json")
            for pid in left:  # instances lead their own process group; the supervisor not
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            if left or result.code != 0:
                shutil.rmtree(self.root, ignore_errors=True)
                raise AssertionError(f"leapfrog down left {left} running: {result.output}")
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> StackDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
