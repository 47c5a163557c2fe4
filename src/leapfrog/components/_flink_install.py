"""Flink from PyPI's `apache-flink`, in its own environment in leapfrog's cache.

`apache-flink==<version>` brings Flink's own distribution inside the `pyflink` package:
`lib/flink-dist-*.jar` (the web dashboard included), the SQL client in `opt/`, and the
`bin/jobmanager.sh` / `taskmanager.sh` scripts. It is installed into
`<cache>/flink/<version>/venv` with uv (pip when uv is missing), so its pins never meet
leapfrog's own dependencies. Two things the wheel leaves out come from Maven Central,
resolved like Kafka's jars: the SQL gateway the SQL client embeds (`flink-sql-gateway`),
and the connectors the stack's jobs name.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import yaml

from leapfrog.components._maven import install_hint, resolve
from leapfrog.components.base import Installation, Progress
from leapfrog.shared.errors import LeapfrogError
from leapfrog.shared.files import atomic_write_text, exclusive_lock

__all__ = ["connector_jars", "install_flink"]

_INSTALL_TIMEOUT = 1800.0
_DONE = "installed.json"


def install_flink(
    version: str, connectors: Sequence[str], cache_dir: Path, progress: Progress
) -> Installation:
    folder = cache_dir / "flink" / version
    home = _installed_home(folder)
    if home is None:
        folder.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(folder / ".lock"):
            home = _installed_home(folder) or _install(version, folder, progress)
    java = shutil.which("java")
    if java is None:
        raise LeapfrogError("`java` is not installed", hint=install_hint("openjdk-17-jre-headless"))
    gateway = resolve(
        f"flink-sql-gateway-{version}",
        [f"org.apache.flink:flink-sql-gateway:{version}"],
        cache_dir,
        progress,
    )
    gateway_jar = next(j for j in gateway.jars if j.name.startswith("flink-sql-gateway-"))
    jars = {c: connector_jars(c, cache_dir, progress) for c in connectors}
    return Installation(
        version=version,
        home=home,
        extra={
            "java": java,
            "bin": str(home / "bin"),
            # The environment's own interpreter runs PyFlink scripts (client and workers).
            "python": str(_venv_python(home)),
            "java_opts": _java_opts(home),
            "sql_client": os.pathsep.join(
                [
                    str(home / "lib" / "*"),
                    *(str(p) for p in sorted((home / "opt").glob("flink-sql-client-*.jar"))),
                    *(str(p) for p in sorted((home / "opt").glob("flink-python-*.jar"))),
                    str(gateway_jar),
                ]
            ),
            "connectors": json.dumps({c: [str(j) for j in js] for c, js in jars.items()}),
        },
    )


def connector_jars(coordinates: str, cache_dir: Path, progress: Progress) -> list[Path]:
    """The connector's jar and what it needs beyond Flink's own (which the cluster has):
    other connector modules it depends on (JDBC's `flink-connector-jdbc-core`) are kept,
    Flink's own jars (`flink-connector-base` is in `flink-dist`) are not."""
    _group, artifact, version = coordinates.split(":")
    name = artifact if artifact.startswith("flink-") else f"flink-{artifact}"
    classpath = resolve(f"{name}-{version}", [coordinates], cache_dir, progress)
    own = f"{artifact}-{version}.jar"
    return [j for j in classpath.jars if j.name == own or _not_flinks_own(j)]


def _not_flinks_own(jar: Path) -> bool:
    if "/org/apache/flink/" not in str(jar):
        return True
    connector = jar.name.startswith(("flink-connector-", "flink-sql-connector-"))
    return connector and not jar.name.startswith("flink-connector-base-")


def _installed_home(folder: Path) -> Path | None:
    try:
        home = Path(json.loads((folder / _DONE).read_text())["home"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return home if (home / "bin" / "jobmanager.sh").is_file() else None


def _install(version: str, folder: Path, progress: Progress) -> Path:
    venv = folder / "venv"
    shutil.rmtree(venv, ignore_errors=True)  # a half-made one from an interrupted install
    progress(f"installing apache-flink=={version} into {venv} (first time only)")
    started = time.monotonic()
    uv = _find_uv()
    if uv is not None:
        steps = [
            [uv, "venv", "-q", "--python", sys.executable, str(venv)],
            [uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"),
             f"apache-flink=={version}"],
        ]  # fmt: skip
    else:
        steps = [
            [sys.executable, "-m", "venv", str(venv)],
            [str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
             "--disable-pip-version-check", f"apache-flink=={version}"],
        ]  # fmt: skip
    for argv in steps:
        try:
            done = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=_INSTALL_TIMEOUT,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise LeapfrogError(
                f"installing apache-flink=={version} took over {_INSTALL_TIMEOUT:g}s",
                hint="check that PyPI is reachable, then run the command again",
            ) from None
        if done.returncode != 0:
            detail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-8:])
            raise LeapfrogError(
                f"could not install apache-flink=={version}:\n{detail}",
                hint=f"check that PyPI is reachable; to retry by hand: {' '.join(argv)}",
            )
    found = sorted(venv.glob("lib/python*/site-packages/pyflink/bin/jobmanager.sh"))
    if not found:
        raise LeapfrogError(
            f"apache-flink=={version} installed no pyflink/bin/jobmanager.sh in {venv}",
            hint="this Flink version's wheel may be laid out differently; use 2.2.x",
        )
    home = found[0].parent.parent
    _readable(folder)
    atomic_write_text(folder / _DONE, json.dumps({"home": str(home)}) + "\n")
    progress(f"installed apache-flink {version} in {time.monotonic() - started:.0f}s")
    return home


def _venv_python(home: Path) -> Path:
    """`<venv>/bin/python` of `<venv>/lib/pythonX.Y/site-packages/pyflink`."""
    return home.parents[3] / "bin" / "python"


def _find_uv() -> str | None:
    found = shutil.which("uv")
    if found:
        return found
    for candidate in (
        Path(sys.executable).parent / "uv",
        Path.home() / ".cache" / "leapfrog" / "uv" / "bin" / "uv",
    ):
        if os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def _java_opts(home: Path) -> str:
    """The JVM options Flink's own config.yaml sets (the `--add-opens` Java 17 needs)."""
    try:
        config = yaml.safe_load((home / "conf" / "config.yaml").read_text())
        opts = config["env"]["java"]["opts"]["all"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return ""
    return str(opts)


def _readable(folder: Path) -> None:
    """The app user runs the scripts and reads the jars, whatever umask pip ran with."""
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            path = Path(root, name)
            path.chmod(path.stat().st_mode | 0o555)
        for name in files:
            path = Path(root, name)
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | 0o444)
    folder.chmod(folder.stat().st_mode | 0o555)
