"""A scratch instance of a store's own component, for verify: the component's own
`process` (files, init commands, program) on the instance's address with free ports
and a temporary data directory, as the instance's user, until its health probe passes;
stopped and removed when done. Its programs are the run's (`RunControl.spawn`), so the
deadline and a kill -9 of the backup process take them along."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from leapfrog.backup.control import RunControl
from leapfrog.backup.driver import BackupError, Store
from leapfrog.components.base import Instance

__all__ = ["scratch_instance"]


@contextlib.contextmanager
def scratch_instance(
    store: Store, folder: Path, run: RunControl, options_update: Mapping[str, Any]
) -> Iterator[tuple[Any, Instance]]:
    """(options, instance) of a started, healthy scratch instance under `folder`."""
    options = store.options.model_copy(update=dict(options_update))
    where = dataclasses.replace(
        store.where,
        instance=f"{store.where.instance}-verify",
        address=store.local_address,
        port=store.component.port(options),
        data_dir=folder / "data",
        secrets_dir=folder / "secrets",
    )
    process = store.component.process(options, store.installation, where)
    for path in (where.data_dir, where.secrets_dir):
        path.mkdir(mode=0o700, parents=True)
    for rel, content in process.files.items():
        (where.data_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (where.data_dir / rel).write_text(content)
    user: dict[str, Any] = {}
    if where.run_as is not None:
        uid, gid = where.run_as
        for item in [folder, *folder.rglob("*")]:
            os.lchown(item, uid, gid)
        user = {"user": uid, "group": gid, "extra_groups": []}
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **process.env}
    log_path = folder / "scratch.log"
    with log_path.open("ab") as log:
        common: dict[str, Any] = {
            "env": env,
            "cwd": where.data_dir,
            "stdout": log,
            "stderr": subprocess.STDOUT,
            **user,
        }
        for argv in process.init:
            if run.spawn(argv, **common).wait() != 0:
                raise BackupError(f"the scratch {where.name}'s init failed: {_tail(log_path)}")
        run.progressed(f"scratch {where.name} initialised")
        server = run.spawn(process.argv, start_new_session=True, **common)
    try:
        _await_healthy(store, options, where, server, run, process.start_timeout, log_path)
        yield options, where
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.Signals[process.stop_signal])
        try:
            server.wait(process.stop_grace_period)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def _await_healthy(  # noqa: PLR0917
    store: Store,
    options: Any,
    where: Instance,
    server: subprocess.Popen[bytes],
    run: RunControl,
    timeout: float,
    log: Path,
) -> None:
    deadline = time.monotonic() + timeout
    detail = "not probed"
    while time.monotonic() < deadline:
        run.check()
        if server.poll() is not None:
            raise BackupError(
                f"the scratch {where.name} exited with {server.returncode}: {_tail(log)}"
            )
        health = asyncio.run(store.component.health(options, where))
        if health.ok:
            run.progressed(f"scratch {where.name} started")
            return
        detail = health.detail
        time.sleep(0.5)
    raise BackupError(f"the scratch {where.name} was not healthy within {timeout:g}s: {detail}")


def _tail(path: Path) -> str:
    lines = path.read_text(errors="replace").strip().splitlines() if path.exists() else []
    return " | ".join(lines[-3:]) or "no output"
