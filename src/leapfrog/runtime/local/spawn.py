"""Starting one process for a launch: the checks and files before it, the Popen itself,
and the words for how a process ended."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from typing import Any

from leapfrog.runtime.local.launch import Launch
from leapfrog.runtime.local.network import NetworkError
from leapfrog.runtime.local.volumes import VolumeError, prepare_volume
from leapfrog.shared.ports import find_listener, port_is_free

__all__ = [
    "SpawnError",
    "describe_exit",
    "popen",
    "port_conflict",
    "prepare_component",
    "prepare_files",
    "prepare_volumes",
]


class SpawnError(Exception):
    """The process could not be started at all; retrying would not help."""


def describe_exit(code: int | None) -> str:
    if code is None:
        return "exited (status unknown: adopted from an earlier supervisor)"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with status {code}"


def port_conflict(address: str, port: int) -> str | None:
    """Who holds address:port, in words, or None when it is free."""
    if port_is_free(address, port):
        return None
    holder = find_listener(address, port)
    return holder.describe() if holder else f"{address}:{port} is in use"


def prepare_files(launch: Launch) -> None:
    """Everything before the fork: a free port (in the instance's own network), the data dir."""
    if launch.port is not None:
        try:
            with launch.network.entered():
                who = port_conflict(launch.address, launch.port)
        except NetworkError as exc:
            raise SpawnError(str(exc)) from None
        if who is not None:
            raise SpawnError(
                f"cannot listen on {launch.address}:{launch.port}: {who}; "
                "stop that program or change the service's `port:`"
            )
    launch.data_dir.mkdir(parents=True, exist_ok=True)
    if launch.user is not None:
        os.chown(launch.data_dir, launch.user.uid, launch.user.gid)


def prepare_volumes(launch: Launch) -> None:
    """The instance's named volumes: directories, owner, mode 0700, file systems mounted."""
    for volume in launch.volumes:
        try:
            prepare_volume(volume, launch.user)
        except VolumeError as exc:
            raise SpawnError(str(exc)) from None


def _joiner(cgroup_procs: int) -> Callable[[], None]:
    def join() -> None:
        # In the child, before exec: one write, nothing that allocates or takes a lock.
        # Should it fail, the process still runs, held by its process group only.
        with contextlib.suppress(OSError):
            os.write(cgroup_procs, b"0")

    return join


def mark(output: int, text: str) -> None:
    """A line of leapfrog's own in the instance's log, in order with its output."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    os.write(output, f"--- leapfrog: {text} at {stamp} ---\n".encode())


def popen(launch: Launch, output: int, cgroup_procs: int | None = None) -> subprocess.Popen[bytes]:
    """Start the process in its own session, stdout and stderr to `output` (the write end
    of its log's pipe). Blocks until it has exec'd.

    `cgroup_procs`: the instance cgroup's cgroup.procs, which the child joins before exec,
    so that nothing it ever starts is outside the cgroup."""
    extra: dict[str, Any] = {}
    if launch.user is not None:
        extra = {"user": launch.user.uid, "group": launch.user.gid, "extra_groups": []}
    if cgroup_procs is not None:
        extra["preexec_fn"] = _joiner(cgroup_procs)
    mark(output, f"{launch.name} starting")
    try:
        with launch.network.entered():  # the child is born in the instance's network
            return subprocess.Popen(
                launch.argv,
                cwd=launch.cwd,
                env=launch.env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
                **extra,
            )
    except FileNotFoundError as exc:
        missing = exc.filename or launch.argv[0]
        raise SpawnError(f"cannot start {launch.argv[0]!r}: {missing} not found") from None
    except PermissionError as exc:
        who = f" as user {launch.user.name}" if launch.user else ""
        raise SpawnError(
            f"cannot start {launch.argv[0]!r}{who}: permission denied for "
            f"{exc.filename or launch.argv[0]}; the user must be able to enter the "
            "working directory and run the program"
        ) from None
    except OSError as exc:
        raise SpawnError(f"cannot start {launch.argv[0]!r}: {exc.strerror}") from None
    except NetworkError as exc:
        raise SpawnError(str(exc)) from None


def prepare_component(launch: Launch, output: int, cgroup_procs: int | None = None) -> None:
    """A component's files and init commands (storage format, initdb), before each start.

    Runs in a worker thread; the commands run as the instance's user, into its log, in
    the instance's cgroup (so stopping the instance meanwhile ends them too).
    """
    run = launch.component
    if run is None:
        return
    for rel, content in run.process.files.items():
        path = launch.data_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        if launch.user is not None:
            os.chown(path, launch.user.uid, launch.user.gid)
    extra: dict[str, Any] = {}
    if launch.user is not None:
        extra = {"user": launch.user.uid, "group": launch.user.gid, "extra_groups": []}
    if cgroup_procs is not None:
        extra["preexec_fn"] = _joiner(cgroup_procs)
    for argv in run.process.init:
        mark(output, f"{launch.name} init: {argv[0]}")
        try:
            with launch.network.entered():
                result = _run_init(launch, argv, output, extra)
        except (OSError, subprocess.TimeoutExpired, NetworkError) as exc:
            raise SpawnError(f"init step {argv[0]} of {launch.name} failed: {exc}") from None
        if result.returncode != 0:
            raise SpawnError(
                f"init step {argv[0]} of {launch.name} exited with status {result.returncode}; "
                f"see `leapfrog logs {launch.unit}`"
            )


def _run_init(
    launch: Launch, argv: Sequence[str], output: int, extra: dict[str, Any]
) -> subprocess.CompletedProcess[bytes]:
    assert launch.component is not None
    return subprocess.run(
        argv,
        cwd=launch.data_dir,
        env=launch.env,
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT,
        check=False,
        timeout=launch.component.process.start_timeout,
        **extra,
    )
