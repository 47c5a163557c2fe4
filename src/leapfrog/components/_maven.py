"""Resolve Maven coordinates to a classpath of jars, cached, with Maven itself.

Each set of coordinates gets its own folder under `<cache>/maven/sets/`: the generated
pom, and, once Maven succeeded, `classpath.txt` (one jar a line) and `classpath.args`
(a `java @file` argument file holding `-cp ...`). The jars live in a local repository
`<cache>/maven/repository` shared by every set. A set whose recorded jars all exist is
returned without running Maven, so re-runs are fast and work offline.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from leapfrog.components.base import Progress
from leapfrog.shared.errors import LeapfrogError
from leapfrog.shared.files import atomic_write_text, exclusive_lock

__all__ = ["Classpath", "MavenRunner", "install_hint", "resolve", "run_maven"]

MavenRunner = Callable[[Sequence[str], Path], "subprocess.CompletedProcess[str]"]
"""Runs a Maven command line in a folder; injected by tests in place of `run_maven`."""


def install_hint(package: str) -> str:
    """What to do when a program from a Debian package is missing. Said for users of an
    installed leapfrog first: `make` targets exist only in a checkout (and not at all in
    leapfrog's container image, where a Job that needs the program cannot install it)."""
    return (
        f"install it: `apt-get install {package}` on Debian or Ubuntu "
        "(in a checkout of leapfrog, `make bootstrap` does it)"
    )


@dataclass(frozen=True)
class Classpath:
    jars: tuple[Path, ...]
    argfile: Path
    """`java @argfile` sets the classpath without putting it on the command line."""
    folder: Path

    @property
    def joined(self) -> str:
        return os.pathsep.join(str(jar) for jar in self.jars)


def run_maven(argv: Sequence[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv), cwd=cwd, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL
    )


def resolve(
    name: str,
    artifacts: Sequence[str],
    cache_dir: Path,
    progress: Progress,
    *,
    boms: Sequence[str] = (),
    runner: MavenRunner = run_maven,
) -> Classpath:
    """The jars of `artifacts` ("group:artifact[:version]") and their runtime dependencies.

    `boms` ("group:artifact:version" POMs) supply versions for artifacts given without one.
    """
    root = cache_dir / "maven"
    key = hashlib.sha256("\n".join([*artifacts, "--", *boms]).encode()).hexdigest()[:12]
    folder = root / "sets" / f"{name}-{key}"
    recorded = _recorded(folder)
    if recorded is not None:
        return recorded
    require_tools()
    root.mkdir(parents=True, exist_ok=True)
    # One Maven run at a time per cache: runs in parallel would share the local repository.
    with exclusive_lock(root / ".lock"):
        recorded = _recorded(folder)  # another process may have resolved it meanwhile
        if recorded is not None:
            return recorded
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(folder / "pom.xml", render_pom(name, artifacts, boms))
        progress(f"resolving {name} with Maven (first time only; downloads jars)")
        started = time.monotonic()
        jars = _run(folder, root / "repository", runner)
        atomic_write_text(folder / "classpath.args", _argfile(jars))
        _make_readable([*jars, folder / "classpath.args"], cache_dir)
        # Written last: its presence means the set is complete.
        atomic_write_text(folder / "classpath.txt", "".join(f"{jar}\n" for jar in jars))
        progress(f"resolved {name}: {len(jars)} jars in {time.monotonic() - started:.0f}s")
    return Classpath(tuple(jars), folder / "classpath.args", folder)


def require_tools() -> None:
    """LeapfrogError naming `java` or `mvn` when either is missing from PATH."""
    for command, package in (("java", "openjdk-17-jre-headless"), ("mvn", "maven")):
        if shutil.which(command) is None:
            raise LeapfrogError(
                f"`{command}` is not installed; it is needed to fetch and run the Java components",
                hint=install_hint(package),
            )


def render_pom(name: str, artifacts: Sequence[str], boms: Sequence[str]) -> str:
    def dependency(coordinates: str, extra: str = "") -> str:
        parts = coordinates.split(":")
        if len(parts) not in (2, 3) or not all(parts):
            raise ValueError(f"not Maven coordinates (group:artifact[:version]): {coordinates}")
        version = f"<version>{escape(parts[2])}</version>" if len(parts) == 3 else ""
        return (
            f"<dependency><groupId>{escape(parts[0])}</groupId>"
            f"<artifactId>{escape(parts[1])}</artifactId>{version}{extra}</dependency>"
        )

    managed = "".join(dependency(bom, "<type>pom</type><scope>import</scope>") for bom in boms)
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0">\n'
        "<modelVersion>4.0.0</modelVersion>\n"
        f"<groupId>leapfrog.resolved</groupId><artifactId>{escape(name)}</artifactId>"
        "<version>0</version><packaging>pom</packaging>\n"
        f"<dependencyManagement><dependencies>{managed}</dependencies></dependencyManagement>\n"
        f"<dependencies>{''.join(dependency(a) for a in artifacts)}</dependencies>\n"
        "</project>\n"
    )


def _recorded(folder: Path) -> Classpath | None:
    try:
        lines = (folder / "classpath.txt").read_text().splitlines()
    except OSError:
        return None
    jars = tuple(Path(line) for line in lines if line)
    if not jars or not all(jar.is_file() for jar in jars):
        return None
    return Classpath(jars, folder / "classpath.args", folder)


def _run(folder: Path, repository: Path, runner: MavenRunner) -> list[Path]:
    output = folder / "classpath.raw"
    output.unlink(missing_ok=True)
    argv = [
        "mvn",
        "-q",
        "-B",
        f"-Dmaven.repo.local={repository}",
        "dependency:build-classpath",
        "-Dmdep.includeScope=runtime",
        f"-Dmdep.outputFile={output}",
    ]
    result = runner(argv, folder)
    if result.returncode != 0 or not output.is_file():
        lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
        errors = [line for line in lines if "ERROR" in line] or lines
        detail = "\n".join(errors[-8:]) or f"exit code {result.returncode}"
        raise LeapfrogError(
            f"Maven could not resolve {folder.name}:\n{detail}",
            hint=f"check that Maven Central is reachable; to retry by hand: "
            f"cd {folder} && {' '.join(argv)}",
        )
    jars = [Path(part) for part in output.read_text().strip().split(os.pathsep) if part]
    if not jars:
        raise LeapfrogError(f"Maven resolved no jars for {folder.name}")
    return jars


def _make_readable(paths: Sequence[Path], cache_dir: Path) -> None:
    """The app user runs the programs from these files, whatever umask Maven ran with."""
    folders: set[Path] = set()
    for path in paths:
        path.chmod(path.stat().st_mode | 0o444)
        folders.update(p for p in path.parents if p.is_relative_to(cache_dir))
    for folder in folders:
        folder.chmod(folder.stat().st_mode | 0o555)


def _argfile(jars: Sequence[Path]) -> str:
    # Argument files take double-quoted strings in which backslash escapes.
    joined = os.pathsep.join(str(jar) for jar in jars).replace("\\", "\\\\").replace('"', '\\"')
    return f'-cp\n"{joined}"\n'
