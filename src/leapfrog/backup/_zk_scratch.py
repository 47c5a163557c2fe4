"""A ZooKeeper server leapfrog starts itself on a data directory (for a restore's
clean-up and for verify): the instance's own jars, a free loopback port, no
AdminServer, run as the instance's user; stopped when done."""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from kazoo.client import KazooClient  # type: ignore[import-untyped]
from kazoo.handlers.threading import KazooTimeoutError  # type: ignore[import-untyped]

from leapfrog.backup._pg_scratch import chown_tree
from leapfrog.backup.control import RunControl
from leapfrog.backup.driver import BackupError
from leapfrog.components.base import Installation
from leapfrog.shared.ports import free_port

__all__ = ["scratch_zookeeper"]

_QUIET_LOGBACK = (
    "<configuration><appender name='OUT' class='ch.qos.logback.core.ConsoleAppender'>"
    "<encoder><pattern>%d %-5level %logger{0}: %msg%n</pattern></encoder></appender>"
    "<root level='WARN'><appender-ref ref='OUT'/></root></configuration>\n"
)


def _heap_mb(data_dir: Path) -> int:
    """Enough heap for the tree: ZooKeeper holds it all, about twice the snapshot."""
    held = sum(p.stat().st_size for p in data_dir.rglob("*") if p.is_file())
    return max(128, 3 * (held >> 20) + 64)


@contextlib.contextmanager
def scratch_zookeeper(
    installation: Installation, data_dir: Path, run_as: tuple[int, int] | None, run: RunControl
) -> Iterator[KazooClient]:
    """A started server on `data_dir` (holding `version-2/`) and a client connected to it."""
    conf = Path(tempfile.mkdtemp(prefix="lf-zks-"))
    port = free_port("127.0.0.1")
    (conf / "zoo.cfg").write_text(
        f"tickTime=2000\ndataDir={data_dir}\nclientPort={port}\nclientPortAddress=127.0.0.1\n"
        "admin.enableServer=false\n"
    )
    (conf / "logback.xml").write_text(_QUIET_LOGBACK)
    chown_tree(conf, run_as)
    conf.chmod(0o755)
    log = conf / "server.log"
    argv = [
        installation.extra["java"],
        f"-Xmx{_heap_mb(data_dir)}m",
        f"-Dlogback.configurationFile={conf / 'logback.xml'}",
        f"@{installation.extra['argfile']}",
        "org.apache.zookeeper.server.quorum.QuorumPeerMain",
        str(conf / "zoo.cfg"),
    ]
    user = {"user": run_as[0], "group": run_as[1], "extra_groups": []} if run_as else {}
    with log.open("ab") as out:
        proc = run.spawn(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **user)
    client = KazooClient(hosts=f"127.0.0.1:{port}", timeout=10)
    try:
        while True:
            run.check()
            if proc.poll() is not None:
                tail = " | ".join(log.read_text(errors="replace").strip().splitlines()[-3:])
                raise BackupError(f"ZooKeeper on the restored data exited: {tail or 'no output'}")
            try:
                client.start(timeout=2)
                break
            except KazooTimeoutError:
                run.progressed("starting a scratch ZooKeeper")
                time.sleep(0.3)
        yield client
    finally:
        with contextlib.suppress(Exception):
            client.stop()
            client.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(conf, ignore_errors=True)
