"""One run of a component, as the runtime would run it, to train its class-data archives.

The component's own `process` gives the files, init commands and argv; the installation
passed in makes each JVM dump its loaded classes at exit. The run lives in a temp folder,
listens on free loopback ports, waits for the component's own health probe, and stops with
the component's stop signal, so the JVM exits normally and writes its archive. Every step
is bounded in time; any failure raises `TrainingFailed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from leapfrog.components.base import Component, Installation, Instance
from leapfrog.shared.ports import free_port

__all__ = ["TrainingFailed", "free_ports", "run_for_training"]

ADDRESS = "127.0.0.1"
INIT_TIMEOUT = 60.0
READY_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0
"""Generous: a start on two busy cores takes seconds, and writing an archive adds some."""


class TrainingFailed(Exception):
    """The training run did not get through; the message says where."""


def free_ports(count: int, address: str = ADDRESS) -> list[int]:
    """Ports free now, all different (`free_port`: from outside the kernel's ephemeral
    range, so no connection takes one before the training run binds it)."""
    return [free_port(address) for _ in range(count)]


def run_for_training(component: Component[Any], options: Any, installation: Installation) -> None:
    """Init, start, wait until healthy, stop cleanly; as the current user, in a temp dir."""
    with tempfile.TemporaryDirectory(prefix=f"leapfrog-train-{component.kind}-") as tmp:
        base = Path(tmp)
        where = Instance(
            name=component.kind,
            instance=f"{component.kind}-training",
            address=ADDRESS,
            port=component.port(options),
            data_dir=base / "data",
            secrets_dir=base / "secrets",
            cache_dir=base / "cache",
        )
        where.data_dir.mkdir()
        where.secrets_dir.mkdir(mode=0o700)
        process = component.process(options, installation, where)
        for rel, content in process.files.items():
            path = where.data_dir / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **process.env}
        with open(base / "training.log", "wb") as log:
            for argv in process.init:
                _run_init(argv, env, where.data_dir, log, base)
            running = subprocess.Popen(
                process.argv,
                env=env,
                cwd=where.data_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                _wait_healthy(component, options, where, running, base)
            finally:
                code = _stop(running, signal.Signals[process.stop_signal])
        if code is None:
            raise TrainingFailed(f"did not stop within {STOP_TIMEOUT:g}s of its stop signal")


def _run_init(argv: tuple[str, ...], env: dict[str, str], cwd: Path, log: Any, base: Path) -> None:
    try:
        result = subprocess.run(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=INIT_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise TrainingFailed(f"init step took over {INIT_TIMEOUT:g}s") from None
    if result.returncode != 0:
        raise TrainingFailed(f"init step exited {result.returncode}: {_last_line(base)}")


def _wait_healthy(
    component: Component[Any],
    options: Any,
    where: Instance,
    running: subprocess.Popen[bytes],
    base: Path,
) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    detail = "not probed"
    # The probe gets an event loop of its own, in a thread: the caller may be running one.
    with ThreadPoolExecutor(1) as prober:
        while time.monotonic() < deadline:
            if running.poll() is not None:
                raise TrainingFailed(
                    f"exited {running.returncode} before ready: {_last_line(base)}"
                )
            health = prober.submit(asyncio.run, component.health(options, where)).result()
            if health.ok:
                return
            detail = health.detail
            time.sleep(0.1)
    raise TrainingFailed(f"not ready within {READY_TIMEOUT:g}s: {detail}")


def _stop(running: subprocess.Popen[bytes], sig: signal.Signals) -> int | None:
    """Its exit code, or None when it had to be killed (then it wrote no archive)."""
    if running.poll() is not None:
        return running.returncode
    with contextlib.suppress(ProcessLookupError):
        os.killpg(running.pid, sig)
    try:
        return running.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(running.pid, signal.SIGKILL)
        running.wait()
        return None


def _last_line(base: Path) -> str:
    try:
        lines = (base / "training.log").read_text(errors="replace").splitlines()
    except OSError:
        return "no log"
    return lines[-1][:200] if lines else "no output"
