"""The per-instance cgroups: where they go, falling back when there is no writable cgroup
v2, and killing and removing one (on this machine's real cgroup v2, when it has one)."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from leapfrog.runtime.local import cgroups
from leapfrog.runtime.local.cgroups import InstanceCgroup, stack_cgroups


def test_no_cgroup2_mount_means_process_groups_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cgroups, "_cgroup2_mount", lambda: None)
    assert stack_cgroups(tmp_path / "state", tmp_path / "record") is None


def test_a_mount_that_is_not_writable_means_process_groups_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mount = tmp_path / "mount"
    mount.mkdir()
    mount.chmod(0o555)
    monkeypatch.setattr(cgroups, "_cgroup2_mount", lambda: mount)
    monkeypatch.setattr(cgroups, "_own_cgroup", lambda: "/not/there")
    assert stack_cgroups(tmp_path / "state", tmp_path / "record") is None
    # a directory that is no cgroup (no cgroup.procs appears in it) is refused as well
    monkeypatch.setattr(cgroups, "_own_cgroup", lambda: "/")
    mount.chmod(0o755)
    assert stack_cgroups(tmp_path / "state", tmp_path / "record") is None


def test_the_recorded_place_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A later supervisor, started from elsewhere, finds the cgroups of the instances it
    adopts where the first one put them."""
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "cgroup.procs").write_text("")
    record = tmp_path / "record"
    record.write_text(f"{kept}\n")
    monkeypatch.setattr(cgroups, "_cgroup2_mount", lambda: None)
    assert stack_cgroups(tmp_path / "state", record) == kept


def _writable_cgroup2() -> bool:
    mount, own = cgroups._cgroup2_mount(), cgroups._own_cgroup()
    if mount is None or own is None:
        return False
    return os.access(mount / own.lstrip("/"), os.W_OK)


@pytest.mark.skipif(not _writable_cgroup2(), reason="no writable cgroup v2 here")
def test_kill_reaches_a_process_that_left_its_session(tmp_path: Path) -> None:
    base = stack_cgroups(tmp_path / f"state-{uuid.uuid4().hex[:6]}", tmp_path / "record")
    assert base is not None
    cgroup = InstanceCgroup(base / "unit-1")
    assert cgroup.create()
    procs = cgroup.open_procs()
    assert procs is not None
    try:
        from leapfrog.runtime.local.spawn import _joiner

        shell = subprocess.Popen(
            ["/bin/sh", "-c", "setsid sleep 300 & exec sleep 301"],
            preexec_fn=_joiner(procs),  # noqa: PLW1509
            start_new_session=True,
        )
    finally:
        os.close(procs)
    deadline = time.monotonic() + 10
    while len(cgroup.pids()) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(cgroup.pids()) == 2 and shell.pid in cgroup.pids()
    cgroup.kill()
    assert shell.wait(10) == -9
    while cgroup.pids() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert cgroup.pids() == []
    assert cgroup.remove() and not cgroup.exists()
    assert InstanceCgroup(base).remove()
