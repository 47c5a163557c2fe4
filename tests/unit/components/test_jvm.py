"""Class-data archives: keyed, trained once, used when present, never required."""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path

import pytest

from leapfrog.components import _jvm
from leapfrog.components._jvm import (
    archive_flags,
    archive_key,
    install_jvm_program,
    java_version,
    with_archive_flags,
)
from leapfrog.components._jvm_training import free_ports
from leapfrog.components._maven import Classpath
from leapfrog.components.base import Installation, Progress
from leapfrog.shared.errors import LeapfrogError

JAVA_VERSION = 'openjdk version "17.0.15" 2025-04-15\n'


class Trainer:
    """Stands in for a training run: writes the archive each dump flag names, or fails."""

    def __init__(self, fail: str | None = None, skip: Sequence[str] = ()) -> None:
        self.fail = fail
        self.skip = skip
        self.calls: list[dict[str, str]] = []

    def __call__(self, installation: Installation) -> None:
        flags = {role: archive_flags(installation, role) for role in ("format", "broker")}
        self.calls.append({role: flag[0] for role, flag in flags.items() if flag})
        if self.fail:
            raise RuntimeError(self.fail)
        for role, (flag,) in flags.items():
            name, _, path = flag.partition("=")
            assert name == "-XX:ArchiveClassesAtExit"
            if role not in self.skip:
                Path(path).write_bytes(b"archive")
                os.chmod(path, 0o400)  # the JVM's own mode may not let the app user read


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache with one resolved set and a fixed `java -version`, without Maven or a JVM."""
    folder = tmp_path / "maven" / "sets" / "demo-1-abc"
    folder.mkdir(parents=True)
    jar = tmp_path / "a.jar"
    jar.write_bytes(b"PK")

    def resolve(
        name: str, artifacts: Sequence[str], cache_dir: Path, progress: Progress, **_: object
    ) -> Classpath:
        return Classpath((jar,), folder / "classpath.args", folder)

    monkeypatch.setattr(_jvm, "resolve", resolve)
    monkeypatch.setattr(_jvm, "java_version", lambda java, cache_dir: JAVA_VERSION)
    return tmp_path


def install(cache: Path, train: Trainer, lines: list[str] | None = None) -> Installation:
    return install_jvm_program(
        "demo-1",
        "1",
        ["org.example:a:1"],
        cache,
        (lines if lines is not None else []).append,
        roles=("format", "broker"),
        train=train,
    )


def test_archives_are_trained_once_then_used_by_every_role(cache: Path) -> None:
    train = Trainer()
    lines: list[str] = []
    first = install(cache, train, lines)
    assert len(train.calls) == 1 and set(train.calls[0]) == {"format", "broker"}
    for role in ("format", "broker"):
        (flag,) = archive_flags(first, role)
        name, _, path = flag.partition("=")
        assert name == "-XX:SharedArchiveFile"
        assert Path(path).parent == first.home
        assert stat.S_IMODE(Path(path).stat().st_mode) == 0o644  # the app user reads it
    assert "training" in lines[0] and "ready" in lines[-1]
    again = install(cache, train)
    assert len(train.calls) == 1
    assert again == first
    assert not list(first.home.glob(".cds-*"))  # no half-written dump left behind


def test_a_failed_training_leaves_no_archive_and_is_not_retried_soon(cache: Path) -> None:
    train = Trainer(fail="not ready within 120s")
    lines: list[str] = []
    installation = install(cache, train, lines)
    assert archive_flags(installation, "broker") == []
    assert installation.extra["java"]  # the install itself succeeded
    assert "not ready within 120s" in lines[-1]
    install(cache, train)
    assert len(train.calls) == 1
    (marker,) = installation.home.glob("cds-*.failed")
    old = marker.stat().st_mtime - _jvm.RETRY_FAILED_AFTER - 1
    os.utime(marker, (old, old))
    install(cache, Trainer())
    assert len(train.calls) == 1 and not marker.exists()


def test_a_role_without_its_archive_counts_as_a_failed_training(cache: Path) -> None:
    lines: list[str] = []
    installation = install(cache, Trainer(skip=["broker"]), lines)
    assert archive_flags(installation, "format") == archive_flags(installation, "broker") == []
    assert "broker" in lines[-1]
    assert not list(installation.home.glob("*.jsa")) and not list(installation.home.glob(".cds-*"))


def test_a_new_jdk_makes_new_archives_and_drops_the_old(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = install(cache, Trainer())
    monkeypatch.setattr(_jvm, "java_version", lambda java, cache_dir: "17.0.16\n")
    new = install(cache, Trainer())
    assert archive_flags(new, "broker") != archive_flags(old, "broker")
    assert len(list(new.home.glob("cds-*.jsa"))) == 2


def test_the_key_follows_the_classpath_and_the_java_version() -> None:
    key = archive_key("/a.jar:/b.jar", JAVA_VERSION)
    assert key == archive_key("/a.jar:/b.jar", JAVA_VERSION)
    assert key != archive_key("/a.jar:/c.jar", JAVA_VERSION)
    assert key != archive_key("/a.jar:/b.jar", JAVA_VERSION.replace("15", "16"))


def test_java_version_runs_java_once_per_jdk_build(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    java = tmp_path / "jdk" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text(f"#!/bin/sh\necho run >> {runs}\necho 'openjdk version \"17\"' >&2\n")
    java.chmod(0o755)
    assert java_version(str(java), tmp_path / "cache") == 'openjdk version "17"\n'
    assert java_version(str(java), tmp_path / "cache") == 'openjdk version "17"\n'
    assert runs.read_text().count("run") == 1
    os.utime(java, ns=(0, 0))  # an upgrade replaces the launcher
    java_version(str(java), tmp_path / "cache")
    assert runs.read_text().count("run") == 2


def test_flags_replace_earlier_flags_and_keep_the_rest() -> None:
    plain = Installation("1", Path("/h"), {"java": "/usr/bin/java"})
    dumping = with_archive_flags(plain, {"broker": "-XX:ArchiveClassesAtExit=/t"})
    using = with_archive_flags(dumping, {"format": "-XX:SharedArchiveFile=/f"})
    assert archive_flags(using, "broker") == []
    assert archive_flags(using, "format") == ["-XX:SharedArchiveFile=/f"]
    assert using.extra["java"] == "/usr/bin/java"


def test_free_ports_are_distinct() -> None:
    ports = free_ports(3)
    assert len(set(ports)) == 3 and all(1024 <= port <= 65535 for port in ports)


def test_what_prepare_makes_is_in_extra_and_in_the_archives_key(cache: Path) -> None:
    plain = install(cache, Trainer())
    launchers: list[str] = []

    def prepare(classpath: Classpath) -> dict[str, str]:
        launchers.append(str(classpath.folder))
        return {"launcher_jar": str(classpath.folder / "launcher-1.jar")}

    train = Trainer()
    prepared = install_jvm_program(
        "demo-1",
        "1",
        ["org.example:a:1"],
        cache,
        lambda _: None,
        roles=("format", "broker"),
        train=train,
        prepare=prepare,
    )
    assert launchers == [str(prepared.home)]
    assert prepared.extra["launcher_jar"].endswith("launcher-1.jar")
    assert len(train.calls) == 1  # a new launcher is a new classpath: trained again
    assert archive_flags(prepared, "broker") != archive_flags(plain, "broker")


def test_a_missing_java_says_which_package_installs_it(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The hint is for a user of an installed leapfrog (or a Job in leapfrog's image), who
    # has no Makefile: the package first, the checkout's target second.
    monkeypatch.setattr(_jvm.shutil, "which", lambda program: None)
    with pytest.raises(LeapfrogError) as caught:
        install(cache, Trainer())
    assert caught.value.hint is not None
    assert "apt-get install openjdk-17-jre-headless" in caught.value.hint
    assert "make bootstrap" in caught.value.hint
