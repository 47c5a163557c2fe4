"""Finding Debian's PostgreSQL, what a missing apt or npm says, and the npm cache."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from leapfrog.components import _apt, _npm
from leapfrog.components._messagedb import PACKAGE, VERSION, fetch_message_db
from leapfrog.components._postgres_install import find_server
from leapfrog.shared.errors import LeapfrogError


def fake_server(root: Path, major: str) -> Path:
    binary = root / major / "bin" / "postgres"
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\n")
    return root / major


def test_the_newest_installed_server_is_chosen(tmp_path: Path) -> None:
    fake_server(tmp_path, "13")
    newest = fake_server(tmp_path, "16")
    (tmp_path / "17").mkdir()  # a leftover folder without a server
    assert find_server(None, tmp_path) == newest


def test_a_requested_major_version_is_found_or_not(tmp_path: Path) -> None:
    thirteen = fake_server(tmp_path, "13")
    fake_server(tmp_path, "16")
    assert find_server(13, tmp_path) == thirteen
    assert find_server(15, tmp_path) is None
    assert find_server(None, tmp_path / "missing") is None


def test_without_apt_get_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_apt.shutil, "which", lambda _name: None)
    with pytest.raises(LeapfrogError) as raised:
        _apt.apt_install(["postgresql-16"], lambda _line: None, "PostgreSQL")
    assert "apt-get" in raised.value.message
    assert raised.value.hint is not None and "postgresql-16" in raised.value.hint


def test_without_root_the_error_gives_the_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_apt.shutil, "which", lambda _name: "/usr/bin/apt-get")
    monkeypatch.setattr(_apt.os, "geteuid", lambda: 1000)
    with pytest.raises(LeapfrogError) as raised:
        _apt.apt_install(["postgresql"], lambda _line: None, "PostgreSQL")
    assert "needs root" in raised.value.message
    assert raised.value.hint is not None and "apt-get install -y postgresql" in raised.value.hint


def test_a_cached_npm_package_needs_no_npm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cached = _npm.cached_package(tmp_path, PACKAGE, VERSION)
    assert cached == tmp_path / "npm" / f"eventide-message-db-{VERSION}" / "package"
    cached.mkdir(parents=True)
    (cached / "package.json").write_text("{}")
    monkeypatch.setattr(_npm.shutil, "which", lambda _name: None)
    assert fetch_message_db(tmp_path, lambda _line: None) == cached / "database"


def test_without_npm_the_error_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_npm.shutil, "which", lambda _name: None)
    with pytest.raises(LeapfrogError) as raised:
        fetch_message_db(tmp_path, lambda _line: None)
    assert "npm" in raised.value.message
    assert raised.value.hint is not None and "apt-get install -y npm" in raised.value.hint


def archive_with(tmp_path: Path, name: str) -> Path:
    path = tmp_path / "package.tgz"
    with tarfile.open(path, "w:gz") as archive:
        data = b"x"
        entry = tarfile.TarInfo(name)
        entry.size = len(data)
        archive.addfile(entry, io.BytesIO(data))
    return path


def test_unpacking_keeps_entries_inside_the_target(tmp_path: Path) -> None:
    into = tmp_path / "into"
    _npm._unpack(archive_with(tmp_path, "package/database/x.sql"), into)
    assert (into / "package" / "database" / "x.sql").read_bytes() == b"x"


@pytest.mark.parametrize("name", ["../escape.sql", "/etc/escape.sql"])
def test_unpacking_refuses_entries_outside_the_target(tmp_path: Path, name: str) -> None:
    with pytest.raises(LeapfrogError, match="unsafe entry"):
        _npm._unpack(archive_with(tmp_path, name), tmp_path / "into")
