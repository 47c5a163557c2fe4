"""Faults: whatever kills an instance's leader, its supervisor, or both, no process it
started outlives it; a supervisor told twice to stop kills everything at once."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from leapfrog.shared.procs import group_members, process_start_time
from leapfrog.testing import StackDir, free_port, wait_until

from .conftest import PYTHON, tiny

BACKEND = Path(__file__).parent / "lb" / "backend.py"


def alive(pid: int) -> bool:
    return process_start_time(pid) is not None


def cgroup_v2_writable() -> bool:
    """Whether this machine lets the supervisor (started from here) make cgroups."""
    mount = next(
        (
            Path(line.split(" - ")[0].split()[4])
            for line in Path("/proc/self/mountinfo").read_text().splitlines()
            if " - cgroup2 " in line
        ),
        None,
    )
    own = next(
        (
            line[3:]
            for line in Path("/proc/self/cgroup").read_text().splitlines()
            if line.startswith("0::")
        ),
        None,
    )
    if mount is None or own is None:
        return False
    probe = mount / own.lstrip("/") / f"leapfrog-probe-{uuid.uuid4().hex[:8]}"
    try:
        probe.mkdir()
    except OSError:
        return False
    probe.rmdir()
    return True


needs_cgroups = pytest.mark.skipif(
    not cgroup_v2_writable(), reason="no writable cgroup v2 hierarchy on this machine"
)


def processes_of(root: Path) -> dict[int, str]:
    """Every process whose command line or environment names this stack's directory."""
    found = {}
    needle = os.fsencode(root)
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry.name}/cmdline").read_bytes()
            environ = Path(f"/proc/{entry.name}/environ").read_bytes()
        except OSError:
            continue
        if (needle in cmdline or needle in environ) and alive(int(entry.name)):
            found[int(entry.name)] = cmdline.replace(b"\0", b" ").decode(errors="replace")
    return found


def haproxy_runs(cmd: str) -> bool:
    """HAProxy's master or a worker (after a reload: `haproxy -sf OLD -x ... -W ...`),
    not its configuration check."""
    return "haproxy" in cmd.split(" ", 1)[0] and " -W " in cmd


def children_of(pgid: int, count: int) -> list[int] | None:
    found = [pid for pid in group_members(pgid) if pid != pgid]
    return found if len(found) >= count else None


SHELL = "  shell:\n    command: /bin/sh -c 'sleep 300 & sleep 300 & wait'\n    restart: always\n"


def test_what_a_killed_leader_started_dies_with_it(stack: StackDir) -> None:
    stack.write("services:\n" + SHELL)
    assert stack.up().code == 0
    leader = stack.instance("shell-1")["pid"]
    children = wait_until(lambda: children_of(leader, 2), what="the shell's two children")
    os.kill(leader, signal.SIGKILL)
    wait_until(
        lambda: (
            (i := stack.instance("shell-1"))["pid"] not in (None, leader)
            and i["state"] == "healthy"
        ),
        timeout=20,
        what="shell-1 started again",
    )
    wait_until(lambda: not any(alive(pid) for pid in children), what="the children gone")
    assert "process(es) it left running were killed" in stack.cli("logs", "supervisor").stdout


@needs_cgroups
def test_a_process_that_leaves_its_group_still_dies_with_its_instance(stack: StackDir) -> None:
    """setsid() takes a process out of the process group (a daemon does it); the
    instance's cgroup still holds it."""
    stack.write(
        "services:\n  daemonish:\n"
        "    command: /bin/sh -c 'setsid sleep 300 & exec sleep 301'\n"
        "    restart: always\n"
    )
    assert stack.up().code == 0
    leader = stack.instance("daemonish-1")["pid"]
    (recorded,) = stack.state_file()["instances"]
    assert (
        recorded["cgroup"] and str(leader) in Path(recorded["cgroup"], "cgroup.procs").read_text()
    )

    def escaped() -> list[int] | None:
        pids = [pid for pid, cmd in processes_of(stack.root).items() if cmd.startswith("sleep 300")]
        return pids or None

    first = wait_until(escaped, what="the process in its own session")
    assert all(os.getsid(pid) != leader for pid in first)
    os.kill(leader, signal.SIGKILL)
    wait_until(lambda: not any(alive(pid) for pid in first), what="it went with its leader")
    second = wait_until(
        lambda: [pid for pid in escaped() or [] if pid not in first] or None,
        timeout=20,
        what="the restarted instance's own escaped process",
    )
    assert stack.down().code == 0
    assert not any(alive(pid) for pid in second)
    assert processes_of(stack.root) == {}


@pytest.mark.parametrize(
    "cgroups", [pytest.param("on", marks=needs_cgroups), "off"], ids=["cgroup", "group"]
)
def test_up_stops_what_a_dead_instance_of_a_dead_supervisor_left(
    stack: StackDir, cgroups: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Supervisor and leader both killed: the leader's children run on, out of any
    supervisor's sight but in its cgroup (or, without cgroups, in its process group and
    session), and the next `up` stops them before it starts the instance again."""
    monkeypatch.setenv("LEAPFROG_CGROUPS", cgroups)
    stack.write("services:\n" + SHELL)
    assert stack.up().code == 0
    state = stack.state_file()
    leader = stack.instance("shell-1")["pid"]
    children = wait_until(lambda: children_of(leader, 2), what="the shell's two children")
    os.kill(state["supervisor"]["pid"], signal.SIGKILL)
    wait_until(lambda: not alive(state["supervisor"]["pid"]), what="supervisor gone")
    os.kill(leader, signal.SIGKILL)
    wait_until(lambda: not alive(leader), what="leader gone")
    assert all(alive(pid) for pid in children)  # orphans, until someone stops them
    result = stack.up()
    assert result.code == 0, result.output
    assert "stopped shell-1" in result.stdout
    assert not any(alive(pid) for pid in children)
    assert stack.instance("shell-1")["state"] == "healthy"
    (recorded,) = stack.state_file()["instances"]
    assert bool(recorded["cgroup"]) == (cgroups == "on")
    assert stack.down().code == 0
    assert processes_of(stack.root) == {}


def test_second_sigterm_kills_everything_at_once(stack: StackDir) -> None:
    """The first SIGTERM stops gracefully (here a 60s grace period the program uses to
    ignore it); the second kills every process now."""
    stack.write(
        "services:\n"
        + tiny("stubborn", 8000, env={"IGNORE_TERM": "1"}, extra="stop_grace_period: 60s")
    )
    assert stack.up().code == 0
    supervisor = stack.state_file()["supervisor"]["pid"]
    pid = stack.instance("stubborn-1")["pid"]
    os.kill(supervisor, signal.SIGTERM)
    wait_until(lambda: stack.state_file()["stopping"], what="the supervisor stopping")
    assert alive(pid)  # still within its grace period
    os.kill(supervisor, signal.SIGTERM)
    wait_until(lambda: not alive(pid) and not alive(supervisor), timeout=30, what="all gone")
    assert "asked again to stop" in stack.cli("logs", "supervisor").stdout


def test_killed_lb_takes_its_haproxy_along() -> None:
    """kill -9 of `leapfrog lb run`: its HAProxy master and workers go too (they kept
    the port with a stale configuration and answered the next instance's probe)."""
    listen, stats = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    with StackDir() as stack:
        shutil.copy(BACKEND, stack.root / "backend.py")
        stack.write(
            f"catalog:\n  http: 127.0.0.1:{free_port()}\n  dns: 127.0.0.1:{free_port()}\n"
            f"components:\n  lb:\n    listen: {listen}\n    stats: {stats}\n"
            "services:\n  web:\n"
            f"    command: {PYTHON} backend.py ${{CONSUL_HTTP_ADDR}} web"
            " ${LEAPFROG_INSTANCE} /web 0.5\n"
        )
        result = stack.up(timeout=180)
        assert result.code == 0, result.output
        lb = stack.instance("lb-1")["pid"]

        def haproxies() -> set[int]:
            found = {p for p, cmd in processes_of(stack.root).items() if haproxy_runs(cmd)}
            return found if len(found) >= 2 else set()

        before = wait_until(haproxies, what="HAProxy master and worker")
        os.kill(lb, signal.SIGKILL)
        wait_until(
            lambda: (
                (i := stack.instance("lb-1"))["pid"] not in (None, lb) and i["state"] == "healthy"
            ),
            timeout=60,
            what="lb-1 healthy again",
        )
        assert not any(alive(pid) for pid in before), "the old HAProxy outlived its lb"
        wait_until(
            lambda: httpx.get(f"http://{listen}/web", timeout=5).status_code == 200,
            timeout=30,
            what="the new HAProxy serving",
        )
        assert stack.down().code == 0
        assert processes_of(stack.root) == {}


def test_standalone_lb_run_killed_takes_its_engine_along(tmp_path: Path) -> None:
    """Without a supervisor around it, `leapfrog lb run` killed outright still leaves no
    HAProxy behind: the master gets SIGTERM when its parent dies."""
    from leapfrog.components import component
    from leapfrog.testing import CatalogProcess

    data = tmp_path / "lb"
    with CatalogProcess(tmp_path / "catalog") as catalog:
        binary = component("lb").install(
            component("lb").options({"engine": "haproxy"}), tmp_path, lambda _line: None
        )
        argv = [sys.executable, "-m", "leapfrog", "lb", "run", "--engine", "haproxy"]
        argv += ["--listen", f"127.0.0.1:{free_port()}", "--stats", f"127.0.0.1:{free_port()}"]
        argv += ["--data-dir", str(data), "--binary", binary.extra["binary"]]
        env = {**os.environ, "CONSUL_HTTP_ADDR": catalog.http_addr}
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, start_new_session=True)
        try:

            def master_and_worker() -> list[int] | None:
                found = [p for p, cmd in processes_of(data).items() if haproxy_runs(cmd)]
                return found if len(found) >= 2 else None

            engine = wait_until(master_and_worker, timeout=60, what="HAProxy started by lb run")
            proc.kill()  # lb run alone: its group (and HAProxy in it) gets no signal
            proc.wait(10)
            wait_until(lambda: not any(alive(p) for p in engine), timeout=20, what="HAProxy gone")
        finally:
            if proc.poll() is None:
                proc.kill()
            for pid in processes_of(data):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


STUCK_SUPERVISOR = """
import asyncio, sys, time
from pathlib import Path
from leapfrog.runtime.local import commands, daemon, stopping, supervisor
from leapfrog.spec import load_stack

stopping.WATCHDOG_MARGIN = 0.5  # a budget of 1s grace + 0.5s + 0.5s
supervisor._STOP_MARGIN = 0.5
prepared = commands.prepare(load_stack(Path(sys.argv[1])))

async def stuck(sup):
    while not all(i.state == "healthy" for i in sup.instances.values()):
        await asyncio.sleep(0.05)
    sup.write_state()
    print("stuck", flush=True)
    time.sleep(300)  # the event loop blocked: no callback, no loop signal handler runs

asyncio.run(daemon.serve(prepared.supervisor(), companion=stuck))
"""


def test_sigterm_stops_a_supervisor_whose_event_loop_is_stuck(stack: StackDir) -> None:
    """The chaos run's supervisor ignored SIGTERM; whatever keeps its event loop from
    running, SIGTERM still ends every instance and the supervisor, within its budget."""
    stack.write("services:\n  sleeper:\n    command: sleep 300\n    stop_grace_period: 1s\n")
    proc = subprocess.Popen(
        [sys.executable, "-c", STUCK_SUPERVISOR, str(stack.stack_file)],
        cwd=stack.root,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "stuck"
        pid = stack.state_file()["instances"][0]["pid"]
        assert alive(pid)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 1
        wait_until(lambda: not alive(pid), what="the instance killed")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
