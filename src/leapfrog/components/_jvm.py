"""Install a Java program from Maven Central, with class-data archives for fast starts.

A JVM spends most of a cold start loading and verifying classes. A dynamic AppCDS archive
(Java 13+: one run with `-XX:ArchiveClassesAtExit=F`, later runs with
`-XX:SharedArchiveFile=F`) maps those classes ready-made; on a 2-core machine it halves
Kafka's storage format and broker start. Each program names its JVM *roles* (Kafka:
`format` and `broker`), one archive each, trained at install by starting the program once
(see `_jvm_training`). The archives sit beside the resolved classpath, keyed by the exact
classpath and `java -version`, so a new version or a JDK upgrade gets new ones.

The archive is an optimisation: a failed training leaves none and the install succeeds,
and `-Xshare:auto` makes a JVM ignore an archive that does not match.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from leapfrog.components._maven import Classpath, install_hint, resolve
from leapfrog.components.base import Installation, Progress
from leapfrog.shared.errors import LeapfrogError
from leapfrog.shared.files import atomic_write_text, exclusive_lock

__all__ = [
    "RETRY_FAILED_AFTER",
    "Preparer",
    "Trainer",
    "archive_flags",
    "archive_key",
    "install_jvm_program",
    "java_version",
    "jvm_flags",
    "properties_file",
    "with_archive_flags",
]

Preparer = Callable[[Classpath], Mapping[str, str]]
"""Makes what the program needs beside its jars (a launcher compiled against them), once
per classpath; returns facts for `Installation.extra`, which also key the archives."""

Trainer = Callable[[Installation], None]
"""Runs the program once with `installation` (whose archive flags dump); raises on failure."""

RETRY_FAILED_AFTER = 86_400.0
"""A failed training is not retried for a day: each retry would cost a whole start."""

_EXTRA_PREFIX = "jvm-archive-"


def properties_file(lines: Mapping[str, str]) -> str:
    """A Java properties file that leapfrog rewrites before every start."""
    header = "# Written by leapfrog before each start; edit the stack file instead.\n"
    return header + "".join(f"{key}={value}\n" for key, value in lines.items())


def jvm_flags(heap: str) -> list[str]:
    """Flags for a fast start of a small server (Kafka, ZooKeeper) on two cores.

    Measured with Kafka on a 2-core machine (median of 5 starts, fresh data directory /
    restart): Serial GC with the C1 compiler only, 2.6-3.1s / 1.8-2.1s; Serial GC with
    both compilers, 3.3s / 2.4s; G1 (Kafka's default), 5.0s / 4.9s. C1 alone gives up some
    peak throughput, which a development stack does not need; a tiny heap is not pre-sized.
    """
    return [
        f"-Xmx{heap}",
        "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1",
        "-Xshare:auto",
        "-XX:+ExitOnOutOfMemoryError",
        "-Djava.awt.headless=true",
    ]


def archive_flags(installation: Installation, role: str) -> list[str]:
    """The archive flag for one JVM role of the program, if `install` recorded one."""
    flag = installation.extra.get(_EXTRA_PREFIX + role)
    return [flag] if flag else []


def with_archive_flags(installation: Installation, flags: Mapping[str, str]) -> Installation:
    """`installation` with one JVM flag per role (`-XX:SharedArchiveFile=...` or a dump)."""
    extra = {k: v for k, v in installation.extra.items() if not k.startswith(_EXTRA_PREFIX)}
    extra.update({_EXTRA_PREFIX + role: flag for role, flag in flags.items()})
    return Installation(installation.version, installation.home, extra)


def install_jvm_program(
    name: str,
    version: str,
    artifacts: Sequence[str],
    cache_dir: Path,
    progress: Progress,
    *,
    boms: Sequence[str] = (),
    roles: Sequence[str],
    train: Trainer,
    prepare: Preparer | None = None,
) -> Installation:
    """Resolve the jars, find `java`, and make (once) or reuse the class-data archives."""
    classpath = resolve(name, artifacts, cache_dir, progress, boms=boms)
    java = shutil.which("java")
    if java is None:  # resolve checked it, but a cached set skips that check
        raise LeapfrogError("`java` is not installed", hint=install_hint("openjdk-17-jre-headless"))
    prepared = dict(prepare(classpath)) if prepare is not None else {}
    plain = Installation(
        version=version,
        home=classpath.folder,
        extra={
            "java": java,
            "argfile": str(classpath.argfile),
            "classpath": classpath.joined,
            **prepared,
        },
    )
    # What `prepare` made (a launcher jar on the classpath) is part of what was archived.
    signature = "\n".join([classpath.joined, *(f"{k}={v}" for k, v in sorted(prepared.items()))])
    key = archive_key(signature, java_version(java, cache_dir))
    archives = {role: classpath.folder / f"cds-{key}-{role}.jsa" for role in roles}
    if not all(path.is_file() for path in archives.values()):
        failed = classpath.folder / f"cds-{key}.failed"
        try:
            _train_once(name, plain, archives, failed_marker=failed, train=train, progress=progress)
        except OSError as exc:  # a cache this user may read but not write, say
            progress(f"{name}: no class-data archive ({exc}); starts are slower")
    found = {role: path for role, path in archives.items() if path.is_file()}
    return with_archive_flags(
        plain, {role: f"-XX:SharedArchiveFile={path}" for role, path in found.items()}
    )


def archive_key(classpath: str, java_version_text: str) -> str:
    return hashlib.sha256(f"{classpath}\n{java_version_text}".encode()).hexdigest()[:12]


def java_version(java: str, cache_dir: Path) -> str:
    """`java -version`'s output, remembered per JDK build so `up` does not pay a JVM for it.

    The memo is keyed by the files a JDK upgrade replaces: the launcher and libjvm.so.
    """
    launcher = Path(java).resolve()
    parts = [str(launcher)]
    for path in (launcher, launcher.parent.parent / "lib" / "server" / "libjvm.so"):
        try:
            info = path.stat()
        except OSError:
            continue
        parts.append(f"{path}:{info.st_size}:{info.st_mtime_ns}")
    fingerprint = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
    memo = cache_dir / "jvm" / f"java-version-{fingerprint}.txt"
    try:
        return memo.read_text()
    except OSError:
        pass
    result = subprocess.run(
        [java, "-version"], capture_output=True, text=True, timeout=60, check=False
    )
    text = result.stderr + result.stdout
    if result.returncode == 0:
        with contextlib.suppress(OSError):  # a cache this user may not write: ask again next time
            atomic_write_text(memo, text)
            _readable_dir(memo.parent)
    return text


def _train_once(
    name: str,
    plain: Installation,
    archives: Mapping[str, Path],
    *,
    failed_marker: Path,
    train: Trainer,
    progress: Progress,
) -> None:
    folder = failed_marker.parent
    with exclusive_lock(folder / ".cds.lock"):  # one training per classpath at a time
        if all(path.is_file() for path in archives.values()):
            return  # another install made them meanwhile
        if _recent(failed_marker):
            return
        progress(f"training class-data archives for {name} (first time only; faster starts)")
        started = time.monotonic()
        dumps = {
            role: path.with_name(f".{path.name}.{os.getpid()}") for role, path in archives.items()
        }
        try:
            train(
                with_archive_flags(
                    plain, {r: f"-XX:ArchiveClassesAtExit={p}" for r, p in dumps.items()}
                )
            )
            missing = [role for role, dump in dumps.items() if not dump.is_file()]
            if missing:
                raise RuntimeError(f"the JVM wrote no archive for {', '.join(missing)}")
        except Exception as exc:  # the archive is optional: any failure only costs speed
            for dump in dumps.values():
                dump.unlink(missing_ok=True)
            atomic_write_text(failed_marker, f"{exc}\n")
            progress(
                f"{name}: no class-data archive ({exc}); starts are slower, not retried for a day"
            )
            return
        for role, dump in dumps.items():
            dump.chmod(0o644)  # the app user reads it; only installs write it
            os.replace(dump, archives[role])
        failed_marker.unlink(missing_ok=True)
        _remove_stale(folder, set(archives.values()))
        progress(f"{name}: class-data archives ready in {time.monotonic() - started:.0f}s")


def _recent(marker: Path) -> bool:
    try:
        return time.time() - marker.stat().st_mtime < RETRY_FAILED_AFTER
    except OSError:
        return False


def _remove_stale(folder: Path, keep: set[Path]) -> None:
    """Archives of an earlier JDK: no JVM would use them any more."""
    for path in folder.glob("cds-*.jsa"):
        if path not in keep:
            path.unlink(missing_ok=True)


def _readable_dir(folder: Path) -> None:
    folder.chmod(folder.stat().st_mode | 0o555)
