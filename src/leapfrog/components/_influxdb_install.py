"""influxd: built from its Go module (InfluxDB 1.8) into the cache, or Debian's package.

The Go build is preferred: Debian 12 ships InfluxDB 1.6.7. `go install
github.com/influxdata/influxdb/cmd/influxd@v<version>` (pure Go, no cgo) takes a few
minutes on two cores, once: the binary is kept in `<cache>/influxdb/<version>/influxd`,
with the version stamped in (`-X main.version`), so `influxd version` and the
`X-Influxdb-Version` header say what runs. Without Go, or when the build fails, Debian's
`influxdb` package is installed (its system service is not started) and used instead.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from leapfrog.components._apt import apt_install
from leapfrog.components._lb_install import no_service_starts
from leapfrog.components.base import Installation, Progress
from leapfrog.shared.errors import LeapfrogError
from leapfrog.shared.files import exclusive_lock

__all__ = ["DEBIAN_BINARY", "find_go", "influxd_version", "install_influxd"]

MODULE = "github.com/influxdata/influxdb/cmd/influxd"
DEBIAN_BINARY = Path("/usr/bin/influxd")
_GO_CANDIDATES = ("/usr/local/go/bin/go", "/usr/lib/go/bin/go")
_BUILD_TIMEOUT = 1800.0
"""Generous: a cold build downloads the module graph and compiles it on busy cores."""
RETRY_FAILED_AFTER = 86_400.0
"""A failed build is not retried for a day: each retry would cost minutes of an `up`."""


def find_go() -> str | None:
    found = shutil.which("go")
    if found:
        return found
    return next((c for c in _GO_CANDIDATES if os.access(c, os.X_OK)), None)


def install_influxd(version: str, cache_dir: Path, progress: Progress) -> Installation:
    """The cached Go build of `version`, building it if needed; else Debian's influxd."""
    folder = cache_dir / "influxdb" / version
    binary = folder / "influxd"
    built = _usable(binary)
    if built is None:
        go = find_go()
        failed = folder / "build.failed"
        failure = "Go is not installed"
        if go is not None and _recent(failed):
            failure = f"its build failed recently, see {failed}"
        elif go is not None:
            try:
                _build(go, version, folder, progress)
            except LeapfrogError as exc:
                failure = exc.message
                with contextlib.suppress(OSError):
                    failed.write_text(f"{failure}\n")
            built = _usable(binary)
        if built is None:
            progress(f"influxd {version} not built ({failure}); using Debian's influxdb package")
            return _debian(progress, why=failure)
    return Installation(version=built, home=folder, extra={"binary": str(binary), "source": "go"})


def influxd_version(binary: Path) -> str | None:
    """`influxd version`'s number (`InfluxDB v1.8.10 (git: ...)`), None when it won't run."""
    try:
        done = subprocess.run(
            [str(binary), "version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"InfluxDB v?(\d[\w.~-]*)", done.stdout + done.stderr)
    return match.group(1) if done.returncode == 0 and match else None


def _recent(marker: Path) -> bool:
    try:
        return time.time() - marker.stat().st_mtime < RETRY_FAILED_AFTER
    except OSError:
        return False


def _usable(binary: Path) -> str | None:
    return influxd_version(binary) if binary.is_file() else None


def _build(go: str, version: str, folder: Path, progress: Progress) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(folder / ".lock"):  # two installs at once build once
        if _usable(folder / "influxd"):
            return  # another install built it meanwhile
        progress(f"building influxd {version} with Go (first time only; a few minutes)")
        started = time.monotonic()
        partial = folder / f".build-{os.getpid()}"
        env = {
            **os.environ,
            "GOBIN": str(partial),
            "CGO_ENABLED": "0",
            "GOTOOLCHAIN": "local",
            "GOFLAGS": "-trimpath",
        }
        argv = [
            go,
            "install",
            "-ldflags",
            f"-s -w -X main.version={version}",
            f"{MODULE}@v{version}",
        ]
        try:
            done = subprocess.run(
                argv,
                env=env,
                capture_output=True,
                text=True,
                timeout=_BUILD_TIMEOUT,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            shutil.rmtree(partial, ignore_errors=True)
            raise LeapfrogError(f"go install took over {_BUILD_TIMEOUT:g}s") from None
        if done.returncode != 0 or not (partial / "influxd").is_file():
            shutil.rmtree(partial, ignore_errors=True)
            lines = (done.stdout + done.stderr).strip().splitlines()
            raise LeapfrogError(f"go install failed: {' / '.join(lines[-3:]) or done.returncode}")
        (partial / "influxd").chmod(0o755)  # the app user runs it; only installs write it
        os.replace(partial / "influxd", folder / "influxd")
        partial.rmdir()
        folder.chmod(0o755)
        (folder / "build.failed").unlink(missing_ok=True)
        progress(f"built influxd {version} in {time.monotonic() - started:.0f}s")


def _debian(progress: Progress, why: str) -> Installation:
    if not DEBIAN_BINARY.is_file():
        with no_service_starts():
            apt_install(["influxdb"], progress, f"InfluxDB ({why}, so Debian's package)")
    version = influxd_version(DEBIAN_BINARY)
    if version is None:
        raise LeapfrogError(
            f"{DEBIAN_BINARY} does not run",
            hint="reinstall it (`apt-get install --reinstall influxdb`), or install Go "
            "(1.21 or later) so leapfrog builds InfluxDB 1.8 itself",
        )
    return Installation(
        version=version,
        home=DEBIAN_BINARY.parent,
        extra={"binary": str(DEBIAN_BINARY), "source": "debian"},
    )
