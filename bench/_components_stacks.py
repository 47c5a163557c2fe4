"""The leapfrog side of bench/components_up.py: stack files with components, `up -d`, `down`.

Every timed `up -d` gets a stack directory of its own, so its state directory (data,
logs, secrets) is new: a cold start. `up -d` prints a line per instance state change,
stamped with the seconds since the command started; those stamps split leapfrog's time
into "until the init steps begin", "init steps" and "process start until healthy".
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from _components_procs import kill_marked, marked_processes
from _shared import BenchError, bench_env, checked_up, cli_ok, no_interrupt, timed_cli

__all__ = ["BenchError", "Stacks", "UpResult"]

UP_TIMEOUT = 300.0  # components may take 180 s to start (their start_timeout), plus setup
DOWN_TIMEOUT = 120.0  # each JVM gets 30 s to stop
CLI_TIMEOUT = 20.0

# "  4.72s  kafka-1   healthy    1 broker, 0 topics"
_PROGRESS = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s+(\S+)\s+([a-z-]+)\s+(.*?)\s*$")


@dataclass(frozen=True)
class UpResult:
    seconds: float
    """From spawning `leapfrog up -d` until it exited 0 (every instance healthy, set up)."""
    phases: dict[str, dict[str, float]]
    """Per instance, the stamps `up -d` printed: preparing, started, healthy (seconds)."""


def progress_stamps(text: str) -> dict[str, dict[str, float]]:
    """The first time `up -d` showed each instance preparing, started and healthy."""
    phases: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        match = _PROGRESS.match(line)
        if match is None:
            continue
        seconds, name, state, detail = float(match[1]), match[2], match[3], match[4]
        if state == "healthy":
            key = "healthy"
        elif detail.startswith("preparing"):
            key = "preparing"
        elif detail == "started":
            key = "started"
        else:
            continue
        phases.setdefault(name, {}).setdefault(key, seconds)
    return phases


@dataclass
class Stacks:
    """A temp dir every user can enter, holding one stack dir per timed `up`."""

    root: Path
    marker: str
    cli: Path
    pycache: str
    written: list[Path] = field(default_factory=list)

    @classmethod
    def create(cls, cli: Path, pycache: str) -> Stacks:
        marker = f"lfc{uuid.uuid4().hex[:10]}"
        root = Path(tempfile.mkdtemp(prefix=f"{marker}-", dir="/tmp"))
        root.chmod(0o755)
        return cls(root, marker, cli, pycache)

    def new_dir(self, label: str) -> Path:
        """A fresh directory for one round of one side (a stack, or a by-hand start)."""
        path = self.root / label
        path.mkdir(mode=0o755)
        path.chmod(0o755)
        return path

    def write(self, label: str, kinds: list[str], network: str, catalog: str | None) -> Path:
        """A stack of the components with their default options; `catalog` is the address
        the stack's catalog listens on, or None to turn the catalog off."""
        spec: dict[str, Any] = {
            "name": f"{self.marker}-{label}",
            "components": {kind: {} for kind in kinds},
            "local": {"addresses": network},
        }
        if catalog is None:
            spec["catalog"] = {"enabled": False}
        else:
            spec["catalog"] = {"http": f"{catalog}:8500", "dns": f"{catalog}:8600"}
        path = self.new_dir(label) / "leapfrog.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        self.written.append(path)
        return path

    def run_cli(self, stack: Path, *args: str, timeout: float) -> tuple[int, float, str]:
        env = bench_env(self.marker, self.pycache, self.root, COLUMNS="200", NO_COLOR="1")
        return timed_cli(self.cli, stack, args, timeout, env)

    def cli_ok(self, stack: Path, *args: str, timeout: float = CLI_TIMEOUT) -> str:
        return cli_ok(self.run_cli, stack, *args, timeout=timeout)

    def up(self, stack: Path, instances: int) -> UpResult:
        """One timed `up -d`, then a check that `status` agrees every instance is healthy.
        The caller brings the stack down."""
        elapsed, text, _ = checked_up(self.run_cli, stack, instances, UP_TIMEOUT, CLI_TIMEOUT)
        return UpResult(elapsed, progress_stamps(text))

    def down(self, stack: Path) -> list[str]:
        """`leapfrog down`, then check that nothing of this run is left; returns problems."""
        problems: list[str] = []
        with no_interrupt():
            try:
                self.cli_ok(stack, "down", timeout=DOWN_TIMEOUT)
            except (BenchError, OSError, subprocess.SubprocessError) as exc:
                problems.append(f"{stack.parent.name}: down failed: {exc}")
            left = kill_marked(self.marker, self.root)
            if left:
                problems.append(f"{stack.parent.name}: left running after down: {', '.join(left)}")
        return problems

    def cleanup(self, keep: bool) -> list[str]:
        """Stop every stack written, kill any straggler, remove the temp dir."""
        problems: list[str] = []
        with no_interrupt():
            for stack in reversed(self.written):
                if not marked_processes(self.marker, self.root):
                    break  # everything is down already
                with contextlib.suppress(BenchError, OSError, subprocess.SubprocessError):
                    self.cli_ok(stack, "down", timeout=DOWN_TIMEOUT)
            stragglers = kill_marked(self.marker, self.root)
            if stragglers:
                problems.append(f"killed {len(stragglers)} process(es) left at the end")
            if not keep:
                shutil.rmtree(self.root, ignore_errors=True)
        return problems
