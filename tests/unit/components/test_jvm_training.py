"""The training run: init, start, healthy, clean stop; with a small Python server, no JVM."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest

from leapfrog.components._jvm import archive_flags, with_archive_flags
from leapfrog.components._jvm_training import TrainingFailed, free_ports, run_for_training
from leapfrog.components.base import (
    Component,
    ComponentOptions,
    Health,
    Installation,
    Instance,
    Process,
    Progress,
)
from leapfrog.shared.probes import tcp_probe

# Listens, and on SIGTERM writes the file its `-XX:ArchiveClassesAtExit=` names, as a JVM
# writes its archive on a normal exit.
SERVER = """
import signal, socket, sys
*flags, address, port = sys.argv[1:]
def stop(*_):
    for flag in flags:
        open(flag.partition("=")[2], "w").write("archive")
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
listener = socket.create_server((address, int(port)))
while True:
    listener.accept()[0].close()
"""


class FakeOptions(ComponentOptions):
    port: int = 1
    init: str = "true"
    program: str = SERVER


class FakeServer(Component[FakeOptions]):
    kind = "fake"
    options_model = FakeOptions
    default_port = 1
    description = "a Python socket server"

    def install(self, options: FakeOptions, cache_dir: Path, progress: Progress) -> Installation:
        return Installation("1", cache_dir)  # nothing to fetch: the program is inline

    def process(self, options: FakeOptions, installation: Installation, where: Instance) -> Process:
        argv = (sys.executable, "-c", options.program, *archive_flags(installation, "main"))
        return Process(
            argv=(*argv, where.address, str(where.port)),
            files={"conf/settings": "x=1\n"},
            init=(("sh", "-c", f"test -f conf/settings && {options.init}"),),
        )

    async def health(self, options: FakeOptions, where: Instance) -> Health:
        return Health(*await tcp_probe(where.address, where.port, 1.0))

    def connection_env(self, options: FakeOptions, where: Instance) -> dict[str, str]:
        return {}


def dumping(tmp_path: Path) -> tuple[Installation, Path]:
    dump = tmp_path / "main.jsa"
    plain = Installation("1", tmp_path, {})
    return with_archive_flags(plain, {"main": f"-XX:ArchiveClassesAtExit={dump}"}), dump


def train(tmp_path: Path, **options: Any) -> Path:
    installation, dump = dumping(tmp_path)
    (port,) = free_ports(1)
    run_for_training(FakeServer(), FakeOptions(port=port, **options), installation)
    return dump


@pytest.mark.timeout(60)
def test_a_healthy_run_is_stopped_cleanly_so_the_program_writes_its_archive(
    tmp_path: Path,
) -> None:
    assert train(tmp_path).read_text() == "archive"


@pytest.mark.timeout(60)
def test_training_works_from_inside_a_running_event_loop(tmp_path: Path) -> None:
    async def inside() -> Path:
        return train(tmp_path)

    assert asyncio.run(inside()).is_file()


@pytest.mark.timeout(60)
def test_a_failing_init_step_fails_the_training(tmp_path: Path) -> None:
    with pytest.raises(TrainingFailed, match="init step exited 3"):
        train(tmp_path, init="echo no storage; exit 3")


@pytest.mark.timeout(60)
def test_a_program_that_exits_before_ready_fails_the_training(tmp_path: Path) -> None:
    with pytest.raises(TrainingFailed, match="exited 4 before ready: broken config"):
        train(tmp_path, program="print('broken config'); raise SystemExit(4)")
