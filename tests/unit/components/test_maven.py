"""The Maven resolver runs Maven once per set of coordinates, then answers from its record."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from leapfrog.components._maven import render_pom, resolve
from leapfrog.shared.errors import LeapfrogError


class FakeMaven:
    """Stands in for `mvn`: writes jars into the local repository and the classpath file."""

    def __init__(self, jars: Sequence[str], returncode: int = 0, stderr: str = "") -> None:
        self.jars = jars
        self.returncode = returncode
        self.stderr = stderr
        self.calls: list[list[str]] = []

    def __call__(self, argv: Sequence[str], cwd: Path) -> subprocess.CompletedProcess[str]:
        self.calls.append(list(argv))
        flags = dict(arg[2:].split("=", 1) for arg in argv if arg.startswith("-D"))
        repository = Path(flags["maven.repo.local"])
        if self.returncode == 0:
            paths = []
            for name in self.jars:
                jar = repository / "org" / "example" / name
                jar.parent.mkdir(parents=True, exist_ok=True)
                jar.write_bytes(b"PK")
                paths.append(str(jar))
            Path(flags["mdep.outputFile"]).write_text(os.pathsep.join(paths))
        return subprocess.CompletedProcess(list(argv), self.returncode, "", self.stderr)


def test_first_resolution_runs_maven_and_records_the_classpath(tmp_path: Path) -> None:
    maven = FakeMaven(["a-1.jar", "b-2.jar"])
    lines: list[str] = []
    classpath = resolve("demo-1", ["org.example:a:1"], tmp_path, lines.append, runner=maven)
    assert len(maven.calls) == 1
    assert [jar.name for jar in classpath.jars] == ["a-1.jar", "b-2.jar"]
    assert all(jar.is_relative_to(tmp_path / "maven" / "repository") for jar in classpath.jars)
    assert classpath.argfile.read_text().startswith("-cp\n")
    assert classpath.joined in classpath.argfile.read_text()
    assert lines and "demo-1" in lines[0]


def test_a_recorded_classpath_is_returned_without_running_maven(tmp_path: Path) -> None:
    maven = FakeMaven(["a-1.jar"])
    first = resolve("demo-1", ["org.example:a:1"], tmp_path, lambda _: None, runner=maven)
    second = resolve("demo-1", ["org.example:a:1"], tmp_path, lambda _: None, runner=maven)
    assert second == first
    assert len(maven.calls) == 1


def test_a_missing_jar_makes_maven_run_again(tmp_path: Path) -> None:
    maven = FakeMaven(["a-1.jar"])
    first = resolve("demo-1", ["org.example:a:1"], tmp_path, lambda _: None, runner=maven)
    first.jars[0].unlink()
    resolve("demo-1", ["org.example:a:1"], tmp_path, lambda _: None, runner=maven)
    assert len(maven.calls) == 2


def test_other_coordinates_are_another_set(tmp_path: Path) -> None:
    maven = FakeMaven(["a-1.jar"])
    one = resolve("demo", ["org.example:a:1"], tmp_path, lambda _: None, runner=maven)
    two = resolve("demo", ["org.example:a:2"], tmp_path, lambda _: None, runner=maven)
    assert one.folder != two.folder
    assert len(maven.calls) == 2


def test_a_failed_resolution_names_the_error_and_records_nothing(tmp_path: Path) -> None:
    maven = FakeMaven([], returncode=1, stderr="[ERROR] Could not find artifact org.example:a:9")
    with pytest.raises(LeapfrogError) as caught:
        resolve("demo-9", ["org.example:a:9"], tmp_path, lambda _: None, runner=maven)
    assert "Could not find artifact org.example:a:9" in caught.value.message
    assert caught.value.hint and "mvn" in caught.value.hint
    assert not list((tmp_path / "maven" / "sets").glob("*/classpath.txt"))


def test_missing_maven_is_named_with_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    java_only = tmp_path / "bin"
    java_only.mkdir()
    (java_only / "java").write_text("#!/bin/sh\n")
    (java_only / "java").chmod(0o755)
    monkeypatch.setenv("PATH", str(java_only))
    with pytest.raises(LeapfrogError) as caught:
        resolve("demo-1", ["org.example:a:1"], tmp_path, lambda _: None, runner=FakeMaven([]))
    assert "`mvn`" in caught.value.message
    assert caught.value.hint and "make" in caught.value.hint and "maven" in caught.value.hint


def test_the_pom_imports_boms_and_leaves_unversioned_artifacts_to_them() -> None:
    pom = render_pom("x", ["g:a:1", "g:b"], ["g:bom:3"])
    assert "<artifactId>bom</artifactId><version>3</version><type>pom</type>" in pom
    assert "<artifactId>b</artifactId></dependency>" in pom
    with pytest.raises(ValueError, match="group:artifact"):
        render_pom("x", ["just-a-name"], [])
