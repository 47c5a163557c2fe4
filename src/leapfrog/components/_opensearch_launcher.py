"""The small Java launcher that runs an OpenSearch node from Maven Central's jars.

Its source (`launchers/LeapfrogOpenSearch.java`) is compiled with the machine's `javac`
against the resolved jars, once per classpath and source: the jar lands beside the
resolved set (`launcher-<hash>.jar`, keyed by the set's own folder, so by the OpenSearch
version) with an argument file putting it after the jars on the classpath.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

from leapfrog.components._maven import Classpath, install_hint
from leapfrog.shared.errors import LeapfrogError
from leapfrog.shared.files import atomic_write_text

__all__ = ["LAUNCHER_CLASS", "SOURCE", "build_launcher", "launcher_argfile"]

LAUNCHER_CLASS = "LeapfrogOpenSearch"
SOURCE = Path(__file__).parent / "launchers" / f"{LAUNCHER_CLASS}.java"
_COMPILE_TIMEOUT = 300.0
# Entries of a jar carry a date; a fixed one makes the same source give the same jar.
_ZIP_DATE = (2020, 1, 1, 0, 0, 0)


def build_launcher(classpath: Classpath) -> dict[str, str]:
    """Compile the launcher against `classpath` unless already done; its facts for `extra`."""
    source = SOURCE.read_bytes()
    key = hashlib.sha256(source).hexdigest()[:12]
    jar = classpath.folder / f"launcher-{key}.jar"
    argfile = classpath.folder / f"launcher-{key}.args"
    if not (jar.is_file() and argfile.is_file()):
        _compile(source, classpath, jar)
        atomic_write_text(argfile, launcher_argfile(classpath, jar))
        for stale in classpath.folder.glob("launcher-*"):  # of an earlier source
            if stale not in (jar, argfile):
                stale.unlink(missing_ok=True)
    return {"launcher_jar": str(jar), "launcher_argfile": str(argfile)}


def launcher_argfile(classpath: Classpath, jar: Path) -> str:
    """A `java @file` argument: the jars, then the launcher (backslash escapes in quotes)."""
    joined = f"{classpath.joined}{os.pathsep}{jar}".replace("\\", "\\\\").replace('"', '\\"')
    return f'-cp\n"{joined}"\n'


def _compile(source: bytes, classpath: Classpath, jar: Path) -> None:
    javac = shutil.which("javac")
    if javac is None:
        raise LeapfrogError(
            "`javac` is not installed; OpenSearch's launcher is compiled once with it",
            hint=install_hint("openjdk-17-jdk-headless"),
        )
    with tempfile.TemporaryDirectory(prefix="leapfrog-javac-") as tmp:
        work = Path(tmp)
        (work / SOURCE.name).write_bytes(source)
        classes = work / "classes"
        try:
            done = subprocess.run(
                [javac, "-nowarn", "-d", str(classes), "-cp", classpath.joined, SOURCE.name],
                cwd=work,
                capture_output=True,
                text=True,
                timeout=_COMPILE_TIMEOUT,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise LeapfrogError(
                f"javac took over {_COMPILE_TIMEOUT:g}s compiling OpenSearch's launcher",
                hint="the machine may be overloaded; run the command again",
            ) from None
        if done.returncode != 0:
            detail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-8:])
            raise LeapfrogError(
                f"javac could not compile OpenSearch's launcher:\n{detail}",
                hint=f"the jars in {classpath.folder} may not be the OpenSearch version the "
                "launcher was written for (2.x)",
            )
        partial = jar.with_name(f".{jar.name}.{os.getpid()}")  # two installs at once
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(classes.rglob("*.class")):
                info = zipfile.ZipInfo(str(path.relative_to(classes)), _ZIP_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, path.read_bytes())
        partial.chmod(0o644)  # the app user runs it; only installs write it
        partial.replace(jar)
