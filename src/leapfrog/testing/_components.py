"""Run one platform component outside a stack: for component tests and conformance.

`run_component` goes through the contract exactly as the runtime does (install,
process, files, init, start, health, setup, stop), with the process as the app user
when running as root, on its own loopback address.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from leapfrog.components import component
from leapfrog.components.base import Component, Health, Installation, Instance, Process
from leapfrog.shared.cache import cache_dir
from leapfrog.shared.users import blocked_at, ensure_user

__all__ = ["RunningComponent", "run_component"]


@dataclass
class RunningComponent:
    component: Component[Any]
    options: Any
    installation: Installation
    where: Instance
    process: Process
    popen: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.where.data_dir.parent / f"{self.where.instance}.log"

    def env(self) -> dict[str, str]:
        return self.component.connection_env(self.options, self.where)

    def health(self) -> Health:
        return asyncio.run(self.component.health(self.options, self.where))

    def setup(self) -> None:
        asyncio.run(self.component.setup(self.options, self.where))

    def start(self, timeout: float | None = None) -> None:
        """Write files, run init commands, start, and wait for the first healthy probe."""
        _prepare(self)
        user = self._user_args()
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **self.process.env}
        with open(self.log_path, "ab") as log:
            for argv in self.process.init:
                result = subprocess.run(
                    argv,
                    env=env,
                    cwd=self.where.data_dir,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    check=False,
                    **user,
                )
                if result.returncode != 0:
                    raise AssertionError(f"init {argv} failed; log: {self.tail()}")
            self.popen = subprocess.Popen(
                self.process.argv,
                env=env,
                cwd=self.where.data_dir,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **user,
            )
        deadline = time.monotonic() + (timeout or self.process.start_timeout)
        last = Health(False, "not probed")
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise AssertionError(f"exited with {self.popen.returncode}; log: {self.tail()}")
            last = self.health()
            if last.ok:
                self.setup()
                return
            time.sleep(0.2)
        raise AssertionError(f"not healthy in time: {last.detail}; log: {self.tail()}")

    def stop(self) -> int | None:
        if self.popen is None or self.popen.poll() is not None:
            return None if self.popen is None else self.popen.returncode
        sig = signal.Signals[self.process.stop_signal]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)
        try:
            return self.popen.wait(self.process.stop_grace_period)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            return self.popen.wait()

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def _user_args(self) -> dict[str, Any]:
        if self.where.run_as is None:
            return {}
        uid, gid = self.where.run_as
        return {"user": uid, "group": gid, "extra_groups": []}


def _prepare(running: RunningComponent) -> None:
    data = running.where.data_dir
    data.mkdir(parents=True, exist_ok=True)
    for rel, content in running.process.files.items():
        path = data / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    if running.where.run_as is not None:
        uid, gid = running.where.run_as
        for path in [data, *data.rglob("*")]:
            os.chown(path, uid, gid)


@contextlib.contextmanager
def run_component(
    kind: str,
    options: Mapping[str, Any],
    base_dir: Path,
    *,
    address: str = "127.0.0.1",
    start: bool = True,
) -> Iterator[RunningComponent]:
    """A started, healthy, set-up component; stopped on exit. `base_dir` must be
    enterable by the app user (tests use /tmp folders, mode 0755)."""
    comp = component(kind)
    opts = comp.options(options)
    run_as = None
    if os.geteuid() == 0:
        user = ensure_user("leapfrog")
        # As the runtime does: leapfrog's own interpreter may be out of the app user's reach.
        blocked = comp.runs_leapfrog and blocked_at(Path(sys.executable).parent, user)
        if not (blocked or comp.acts_on_stack):
            run_as = (user.uid, user.gid)
    secrets = base_dir / "secrets"
    secrets.mkdir(mode=0o700, parents=True, exist_ok=True)
    where = Instance(
        name=kind,
        instance=f"{kind}-1",
        address=address,
        port=comp.port(opts),
        data_dir=base_dir / "data" / f"{kind}-1",
        secrets_dir=secrets,
        cache_dir=cache_dir(),
        run_as=run_as,
    )
    installation = comp.install(opts, where.cache_dir, lambda _line: None)
    process = comp.process(opts, installation, where)
    if comp.acts_on_stack:  # as the runtime does: the stack file, as the stack's owner
        process = replace(
            process,
            env={
                **process.env,
                "LEAPFROG_STACK_FILE": str(_one_component_stack(kind, options, base_dir)),
            },
        )
    running = RunningComponent(comp, opts, installation, where, process)
    try:
        if start:
            running.start()
        yield running
    finally:
        running.stop()


def _one_component_stack(kind: str, options: Mapping[str, Any], base_dir: Path) -> Path:
    """A stack file holding just this component, its state under `base_dir`."""
    import yaml

    path = base_dir / "leapfrog.yaml"
    spec = {
        "name": "conformance",
        "local": {"state_dir": str(base_dir / "state")},
        "components": {kind: dict(options)},
    }
    path.write_text(yaml.safe_dump(spec))
    return path
