"""The tar stream extracted by the `tar` program: contents and modes as they were,
unsafe members refused before tar sees them, a stream cut short failed."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from leapfrog.backup._untar import TarHeaders, untar
from leapfrog.backup.control import RunControl
from leapfrog.backup.driver import BackupError


def _run() -> RunControl:
    return RunControl(deadline=60, stall_after=60)


def _tar(members: list[tuple[tarfile.TarInfo, bytes]], fmt: int = tarfile.USTAR_FORMAT) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
        for info, data in members:
            info.size = len(data) if info.isfile() else 0
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return out.getvalue()


def _file(name: str, data: bytes, mode: int = 0o600) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.mode = mode
    return info, data


def _dir(name: str) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o700
    return info, b""


def _chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("chunk", [1, 511, 512, 4096, 1 << 20])
def test_extracts_every_member_whatever_the_chunking(tmp_path: Path, chunk: int) -> None:
    big = os.urandom(70_000)
    data = _tar([_dir("base"), _file("base/1", big), _file("PG_VERSION", b"17\n", 0o640)])
    into = tmp_path / "out"
    into.mkdir()
    assert untar(_chunks(data, chunk), into, "base.tar", _run()) == 3
    assert (into / "base" / "1").read_bytes() == big
    assert (into / "PG_VERSION").read_text() == "17\n"
    assert (into / "PG_VERSION").stat().st_mode & 0o777 == 0o640


def test_a_long_pax_name_is_read(tmp_path: Path) -> None:
    name = "d/" + "x" * 150
    data = _tar([_file(name, b"ok")], fmt=tarfile.PAX_FORMAT)
    into = tmp_path / "out"
    into.mkdir()
    assert untar([data], into, "t", _run()) == 1
    assert (into / name).read_bytes() == b"ok"


@pytest.mark.parametrize("name", ["/etc/passwd", "a/../../escape", "../x"])
def test_an_unsafe_path_is_refused_before_tar_sees_it(tmp_path: Path, name: str) -> None:
    data = _tar([_file("fine", b"1"), _file(name, b"evil")], fmt=tarfile.GNU_FORMAT)
    into = tmp_path / "a" / "b"
    into.mkdir(parents=True)
    with pytest.raises(BackupError, match="unsafe path"):
        untar(_chunks(data, 512), into, "base.tar", _run())
    assert not (tmp_path / "escape").exists()
    assert not (tmp_path / "a" / "x").exists()


def test_a_long_pax_name_escaping_is_refused() -> None:
    data = _tar([_file("../" + "y" * 150, b"evil")], fmt=tarfile.PAX_FORMAT)
    with pytest.raises(BackupError, match="unsafe path"):
        TarHeaders("t").feed(data)


def test_links_are_refused(tmp_path: Path) -> None:
    link = tarfile.TarInfo("pg_tblspc/16384")
    link.type = tarfile.SYMTYPE
    link.linkname = "/elsewhere"
    into = tmp_path / "out"
    into.mkdir()
    with pytest.raises(BackupError, match="link"):
        untar([_tar([(link, b"")])], into, "base.tar", _run())
    assert not (into / "pg_tblspc").exists()


def test_a_stream_cut_short_fails(tmp_path: Path) -> None:
    data = _tar([_file("a", os.urandom(10_000))])
    into = tmp_path / "out"
    into.mkdir()
    with pytest.raises(BackupError, match="tar"):
        untar([data[:6000]], into, "base.tar", _run())


def test_a_corrupt_header_fails() -> None:
    data = bytearray(_tar([_file("a", b"1")]))
    data[0] ^= 1
    with pytest.raises(BackupError, match="corrupt tar header"):
        TarHeaders("t").feed(bytes(data))


def test_a_stream_cut_between_members_tar_accepts_is_still_whole(tmp_path: Path) -> None:
    """Without the end-of-archive blocks (tar accepts that), every member is there."""
    data = _tar([_file("a", b"1" * 600)])
    into = tmp_path / "out"
    into.mkdir()
    assert untar([data[: 3 * 512]], into, "t", _run()) == 1
    assert (into / "a").read_bytes() == b"1" * 600
