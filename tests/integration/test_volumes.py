"""Named volumes against real processes: data kept across a rolling replacement and
`down`/`up`, a directory per instance, owner and mode, the size limit, `volume ls|rm`."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from leapfrog.testing import StackDir

from .conftest import APPS, PYTHON

ROOT = os.geteuid() == 0


def _mounts_under(root: Path) -> list[str]:
    with open("/proc/self/mountinfo", encoding="utf-8") as info:
        points = [line.split()[4] for line in info]
    return [p for p in points if p.startswith(str(root) + "/")]


@pytest.fixture
def stack() -> Iterator[StackDir]:
    made = StackDir(catalog=False)
    made.copy_in(APPS / "tiny.py")
    try:
        yield made
    finally:
        made.close()  # `leapfrog down`: it unmounts the volumes' file systems
        left = _mounts_under(made.root)
        for point in sorted(left, reverse=True):  # never leak a mount, even on failure
            subprocess.run(["umount", "-l", point], check=False)
        assert not left, f"`leapfrog down` left mounted: {left}"


def _service(version: str, *, replicas: int = 2, volumes: str = "[data, shared]") -> str:
    # Each start appends a line to the instance's own volume and touches a file named
    # after the instance in the shared one, then serves tiny.py.
    script = (
        'echo "$LEAPFROG_INSTANCE $VERSION" >> "$LEAPFROG_VOLUME_DATA/starts" && '
        '{ [ -z "$LEAPFROG_VOLUME_SHARED" ] || '
        'echo "$LEAPFROG_INSTANCE" >> "$LEAPFROG_VOLUME_SHARED/starts"; } && '
        f"exec {PYTHON} tiny.py"
    )
    return (
        "services:\n"
        "  web:\n"
        f"    command: [sh, -c, '{script}']\n"
        "    port: 8000\n"
        f"    replicas: {replicas}\n"
        "    check: {http: /health}\n"
        f"    env: {{VERSION: '{version}'}}\n"
        f"    volumes: {volumes}\n"
    )


VOLUMES = """\
volumes:
  data: {size: 16MiB}
  shared: {scope: shared}
"""


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_data_survives_rolling_replacement_and_down_up(stack: StackDir) -> None:
    stack.write(VOLUMES + _service("1"))
    first = stack.up()
    assert first.code == 0, first.output
    vols = stack.root / ".leapfrog/volumes"
    web1, web2 = vols / "data/web-1", vols / "data/web-2"
    assert _lines(web1 / "starts") == ["web-1 1"]
    assert _lines(web2 / "starts") == ["web-2 1"]  # a directory per instance
    assert sorted(_lines(vols / "shared/starts")) == ["web-1", "web-2"]  # one for all
    env_of_1 = stack.cli("exec", "web-1", "--", "sh", "-c", "echo $LEAPFROG_VOLUME_DATA")
    assert f"web-1 | {web1}\n" in env_of_1.stdout, env_of_1.output
    assert (_mounts_under(stack.root) != []) is ROOT  # the size limit: a file system each

    # A changed service is rolled out: a surge instance (web-3, a directory of its own as
    # `scale` would give it) and then web-1 and web-2 replaced in place: they find the data.
    stack.write(VOLUMES + _service("2"))
    rolled = stack.up()
    assert rolled.code == 0, rolled.output
    assert "replace (one at a time): web-1, web-2" in rolled.stdout
    assert _lines(web1 / "starts") == ["web-1 1", "web-1 2"]
    assert _lines(web2 / "starts") == ["web-2 1", "web-2 2"]
    assert _lines(vols / "data/web-3/starts") == ["web-3 2"]

    down = stack.down()
    assert down.code == 0, down.output
    assert _mounts_under(stack.root) == []  # unmounted with the stack; the data is in the image
    again = stack.up()
    assert again.code == 0, again.output
    assert _lines(web1 / "starts") == ["web-1 1", "web-1 2", "web-1 2"]
    assert _lines(web2 / "starts") == ["web-2 1", "web-2 2", "web-2 2"]
    assert sorted(_lines(vols / "shared/starts")).count("web-3") == 1  # the surge, once
    assert len(_lines(vols / "shared/starts")) == 7


def test_owner_and_mode(stack: StackDir) -> None:
    stack.write(VOLUMES + _service("1", replicas=1))
    assert stack.up().code == 0
    owner = "leapfrog" if ROOT else pwd.getpwuid(os.geteuid()).pw_name
    vols = stack.root / ".leapfrog/volumes"
    for path in (vols / "data", vols / "data/web-1", vols / "shared"):
        info = path.stat()
        assert (info.st_mode & 0o777, pwd.getpwuid(info.st_uid).pw_name) == (0o700, owner), path
    # the instance itself writes as that user
    assert pwd.getpwuid((vols / "data/web-1/starts").stat().st_uid).pw_name == owner
    assert not (vols / "data/web-1/lost+found").exists()


def test_volume_ls_and_rm(stack: StackDir) -> None:
    stack.write(VOLUMES + _service("1"))
    assert stack.up().code == 0
    listed = stack.cli("volume", "ls", "--json")
    assert listed.code == 0, listed.output
    by_name = {v["name"]: v for v in json.loads(listed.stdout)}
    assert set(by_name) == {"data", "shared"}
    data = by_name["data"]
    assert data["scope"] == "instance" and data["services"] == ["web"]
    assert sorted(data["directories"]) == ["web-1", "web-2"]
    assert data["in_use_by"] == ["web-1", "web-2"]
    assert data["size"] == 16 * 1024**2 and data["enforced"] is ROOT
    if ROOT:
        assert data["mounted"] == ["web-1", "web-2"] and data["not_enforced"] is None
    else:
        assert "needs root" in data["not_enforced"]
    table = stack.cli("volume", "ls")
    assert table.code == 0 and "web-1, web-2" in table.stdout

    busy = stack.cli("volume", "rm", "data")
    assert busy.code != 0
    assert "cannot remove a volume in use: data by web-1, web-2" in busy.stderr
    assert "leapfrog down" in busy.stderr and "Traceback" not in busy.output
    unknown = stack.cli("volume", "rm", "nope")
    assert unknown.code != 0 and "no volume nope" in unknown.stderr

    # A volume the stack file stops naming is kept (and listed) until removed; no longer
    # used by anything running, it can be removed while the stack is up.
    stack.write(
        VOLUMES.replace("  shared: {scope: shared}\n", "") + _service("1", volumes="[data]")
    )
    assert stack.up().code == 0
    kept = {v["name"]: v for v in json.loads(stack.cli("volume", "ls", "--json").stdout)}
    assert kept["shared"]["declared"] is False and kept["shared"]["in_use_by"] == []
    assert kept["data"]["in_use_by"] == ["web-1", "web-2"]
    assert stack.cli("volume", "rm", "shared").code == 0
    assert stack.down().code == 0

    removed = stack.cli("volume", "rm", "data")
    assert removed.code == 0, removed.output
    assert "removed volume data" in removed.stdout
    assert not (stack.root / ".leapfrog/volumes/data").exists()
    assert not (stack.root / ".leapfrog/volumes/shared").exists()
    assert not (stack.root / ".leapfrog/volume-images/data").exists()
    assert json.loads(stack.cli("volume", "ls", "--json").stdout) == []


def test_size_limit(stack: StackDir) -> None:
    """As root, 8MiB is a file system of 8MiB: writing 20MiB fails with ENOSPC and the
    instance keeps running. Without root it is said to be unenforced, at `up` and in ls."""
    script = f'dd if=/dev/zero of="$LEAPFROG_VOLUME_DATA/big" bs=1M count=20; exec {PYTHON} tiny.py'
    stack.write(
        "volumes: {data: {size: 8MiB}}\n"
        "services:\n"
        "  web:\n"
        f"    command: [sh, -c, '{script}']\n"
        "    port: 8000\n"
        "    check: {http: /health}\n"
        "    volumes: [data]\n"
    )
    result = stack.up()
    assert result.code == 0, result.output
    big = stack.root / ".leapfrog/volumes/data/web-1/big"
    if ROOT:
        assert "No space left on device" in stack.log("web-1")
        assert big.stat().st_size < 8 * 1024**2
        image = stack.root / ".leapfrog/volume-images/data/web-1.img"
        assert image.stat().st_size == 8 * 1024**2 and image.stat().st_mode & 0o777 == 0o600
    else:
        assert "the size limit is not enforced: needs root" in result.stderr
        assert big.stat().st_size == 20 * 1024**2


def _bad_up(stack: StackDir, declared: str, uses: str) -> str:
    stack.write(
        f"volumes:\n{declared}services:\n  web:\n"
        f"    command: {PYTHON} tiny.py\n    volumes: {uses}\n"
    )
    result = stack.up()
    assert result.code == 2, result.output
    assert "Traceback" not in result.output
    assert not (stack.root / ".leapfrog").exists()  # nothing was started or made
    return result.stderr


def test_bad_declarations_stop_up_with_their_lines(stack: StackDir) -> None:
    told = _bad_up(stack, "  data: {size: 1MiB}\n", "[data]")
    assert "leapfrog.yaml:2:" in told and "at least 8MiB" in told

    told = _bad_up(stack, "  data: {}\n  logs: {}\n", "[data, logz, 'logs:/srv', 'data:/srv/x']")
    assert "leapfrog.yaml:7:" in told
    assert "`logz` is not a volume of this stack" in told and "did you mean `logs`?" in told
    assert "`data` is listed twice" in told

    told = _bad_up(stack, "  data: {path: ./store}\n  logs: {path: store/logs}\n", "[data, logs]")
    assert "leapfrog.yaml:3:" in told and "overlaps" in told and "volume `data`" in told

    told = _bad_up(stack, "  a: {}\n  b: {}\n", "['a:/srv', 'b:/srv/b']")
    assert "leapfrog.yaml:7:" in told and "mount /srv/b overlaps /srv of volume `a`" in told
