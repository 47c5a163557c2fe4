"""Crashes, restarts, stopping, orphans, port conflicts, the app user."""

from __future__ import annotations

import itertools
import os
import pwd
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from leapfrog.shared.procs import group_members, process_start_time
from leapfrog.testing import StackDir, wait_until

from .conftest import PYTHON, tiny


def alive(pid: int) -> bool:
    return process_start_time(pid) is not None


def start_times(stack: StackDir, instance: str) -> list[float]:
    path = stack.root / ".leapfrog/data" / instance / "events"
    lines = path.read_text().splitlines() if path.exists() else []
    return [float(line.split()[1]) for line in lines if line.startswith("start ")]


# A shell, not Python: a crasher that starts in milliseconds keeps the backoff gaps clean.
CRASHER = (
    "  crasher:\n"
    '    command: /bin/sh -c \'echo "start $(date +%s.%N)"'
    " >> $LEAPFROG_DATA_DIR/events; exit 3'\n"
)


def test_crash_restarts_with_exponential_backoff(stack: StackDir) -> None:
    stack.write(
        "services:\n"
        + CRASHER
        + "    restart: {policy: on-failure, backoff: 200ms, max_backoff: 5s,"
        + " crashloop_after: 50}\n"
        + tiny("web", 8000)
    )
    result = stack.up("--timeout", "1s")
    assert result.code == 1
    assert "crasher-1" in result.stderr and "not healthy within 1s" in result.stderr
    times = wait_until(
        lambda: (t := start_times(stack, "crasher-1")) and len(t) >= 5 and t,
        timeout=20,
        what="five starts of crasher",
    )
    gaps = [b - a for a, b in itertools.pairwise(times)][:4]
    # Waits of 0.2, 0.4, 0.8, 1.6 s. Load on the machine can only lengthen a gap (the
    # spawn takes longer), so each is checked against its floor, and the doubling by the
    # last gap against the first.
    for number, gap in enumerate(gaps):
        assert gap >= 0.2 * 2**number * 0.9, gaps
    assert gaps[-1] > 2 * gaps[0], gaps
    item = stack.instance("crasher-1")
    assert item["restarts"] >= 4
    assert item["exit_code"] == 3 or item["state"] == "starting"


def test_crash_loop_is_reported(stack: StackDir) -> None:
    stack.write(
        "services:\n"
        + CRASHER
        + "    restart: {policy: always, backoff: 50ms, crashloop_after: 3}\n"
    )
    result = stack.up()
    assert result.code == 1
    assert "crash loop" in result.stderr and "exited with status 3" in result.stderr
    state = wait_until(
        lambda: stack.instance("crasher-1")["state"] == "crashloop" or None,
        timeout=10,
        what="crashloop state",
    )
    assert state


def test_restart_policy_no_leaves_instance_stopped(stack: StackDir) -> None:
    stack.write("services:\n" + CRASHER + "    restart: 'no'\n" + tiny("web", 8000))
    result = stack.up()
    assert result.code == 1
    assert "exited with status 3 before becoming healthy" in result.stderr
    item = stack.instance("crasher-1")
    assert item["state"] == "stopped" and item["restarts"] == 0 and item["exit_code"] == 3
    assert len(start_times(stack, "crasher-1")) == 1


def test_restart_policy_always_restarts_after_clean_exit(stack: StackDir) -> None:
    stack.write(
        "services:\n"
        "  once:\n"
        f'    command: {PYTHON} -c "import os,time; '
        "open(os.environ['LEAPFROG_DATA_DIR']+'/events','a').write(f'start {time.time()}\\\\n'); "
        'time.sleep(0.7)"\n'
        "    restart: {policy: always, backoff: 100ms, crashloop_after: 100}\n"
    )
    assert stack.up().code == 0
    wait_until(lambda: len(start_times(stack, "once-1")) >= 3, timeout=10, what="restarts")


def test_killed_instance_is_restarted(stack: StackDir) -> None:
    stack.write("services:\n" + tiny("web", 8000, extra="restart: always"))
    assert stack.up().code == 0
    first = stack.instance("web-1")["pid"]
    os.kill(first, signal.SIGKILL)
    item = wait_until(
        lambda: (
            (i := stack.instance("web-1"))["pid"] not in (None, first)
            and i["state"] == "healthy"
            and i
        ),
        timeout=10,
        what="web-1 restarted and healthy",
    )
    assert item["restarts"] == 1
    assert "killed by SIGKILL" in stack.cli("logs", "supervisor").stdout


def test_graceful_stop_and_kill_after_grace_period(stack: StackDir) -> None:
    stack.write(
        "services:\n"
        + tiny("polite", 8000, extra="stop_grace_period: 5s")
        + tiny("stubborn", 8001, env={"IGNORE_TERM": "1"}, extra="stop_grace_period: 1s")
    )
    assert stack.up().code == 0
    pids = {i["name"]: i["pid"] for i in stack.status()}
    result = stack.down()
    assert result.code == 0, result.output
    assert not any(alive(pid) for pid in pids.values())
    polite = (stack.root / ".leapfrog/data/polite-1/events").read_text()
    assert "term" in polite  # it got SIGTERM and exited by itself
    log = stack.cli("logs", "supervisor").stdout
    assert "stubborn-1 stopped" in log
    # stubborn ignored SIGTERM: it was killed after its 1s grace, not polite's 5s.
    assert 1.0 <= result.seconds < 5.0


def test_no_process_left_after_supervisor_is_killed(stack: StackDir) -> None:
    stack.write(
        "services:\n"
        + tiny("web", 8000, extra="replicas: 2")
        + "  shell:\n"
        + "    command: /bin/sh -c 'sleep 300 & sleep 300 & wait'\n"
    )
    assert stack.up().code == 0
    state = stack.state_file()
    supervisor = state["supervisor"]["pid"]
    pids = [i["pid"] for i in state["instances"]]
    os.kill(supervisor, signal.SIGKILL)
    wait_until(lambda: not alive(supervisor), what="supervisor gone")
    assert all(alive(pid) for pid in pids)  # orphans keep running until someone stops them
    status = stack.cli("status")
    assert "supervisor is not running" in status.stdout
    result = stack.down()
    assert result.code == 0, result.output
    assert "left over from an earlier supervisor" in result.stdout
    for pid in pids:
        assert not alive(pid)
    assert group_members(pids[-1]) == []  # the shell's children went with it
    cgroups = [i["cgroup"] for i in state["instances"] if i["cgroup"]]
    assert not any(Path(path).parent.exists() for path in cgroups)  # down removed them too


def test_up_after_supervisor_crash_adopts_unchanged_instances(stack: StackDir) -> None:
    stack.write("services:\n" + tiny("web", 8000) + tiny("api", 8001))
    assert stack.up().code == 0
    before = {i["name"]: i["pid"] for i in stack.status()}
    os.kill(stack.state_file()["supervisor"]["pid"], signal.SIGKILL)
    # change api so it cannot be adopted; web stays as it was
    stack.write("services:\n" + tiny("web", 8000) + tiny("api", 8001, env={"X": "1"}))
    result = stack.up()
    assert result.code == 0, result.output
    assert "adopted web-1" in result.stdout
    assert "stopped api-1" in result.stdout
    after = {i["name"]: i["pid"] for i in stack.status()}
    assert after["web-1"] == before["web-1"]
    assert after["api-1"] != before["api-1"] and not alive(before["api-1"])
    # an adopted instance is still supervised: kill it and it comes back
    os.kill(after["web-1"], signal.SIGKILL)
    wait_until(
        lambda: (
            (i := stack.instance("web-1"))["pid"] not in (None, after["web-1"])
            and i["state"] == "healthy"
        ),
        timeout=10,
        what="adopted web-1 restarted",
    )


def test_port_conflict_names_the_holder(stack: StackDir) -> None:
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind(("0.0.0.0", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        stack.write("services:\n" + tiny("web", port))
        result = stack.up()
        assert result.code == 1
        assert "cannot listen on" in result.stderr and f":{port}" in result.stderr
        assert f"pid {os.getpid()}" in result.stderr
        assert "leapfrog.yaml:" in result.stderr
        assert "change `port:`" in result.stderr
    finally:
        holder.close()


def test_restart_command(stack: StackDir) -> None:
    stack.write("services:\n" + tiny("web", 8000, extra="replicas: 2"))
    assert stack.up().code == 0
    before = {i["name"]: i["pid"] for i in stack.status()}
    result = stack.cli("restart", "web-2")
    assert result.code == 0 and "web-2" in result.stdout
    after = {i["name"]: i["pid"] for i in stack.status()}
    assert after["web-1"] == before["web-1"] and after["web-2"] != before["web-2"]
    assert not alive(before["web-2"])
    unknown = stack.cli("restart", "nope")
    assert unknown.code == 1 and "no unit or instance named 'nope'" in unknown.stderr


def test_foreground_up_stops_cleanly_on_ctrl_c(stack: StackDir) -> None:
    stack.write("services:\n" + tiny("web", 8000, extra="replicas: 2"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "leapfrog", "up"],
        cwd=stack.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until(
            lambda: (
                (stack.root / ".leapfrog/run/state.json").exists()
                and all(i["state"] == "healthy" for i in stack.status())
                and len(stack.status()) == 2
            ),
            timeout=20,
            what="foreground stack healthy",
        )
        pids = [i["pid"] for i in stack.status()]
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "is up" in out and "stopped." in out
    assert "Traceback" not in out
    assert not any(alive(pid) for pid in pids)


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
def test_services_run_as_the_app_user_when_root(stack: StackDir) -> None:
    stack.write(
        "services:\n"
        "  who:\n"
        '    command: /bin/sh -c \'id -un > "$LEAPFROG_DATA_DIR/whoami";'
        ' echo "$HOME"; exec sleep 300\'\n'
        "  boss:\n"
        "    command: /bin/sh -c 'id -un > \"$LEAPFROG_DATA_DIR/whoami\"; exec sleep 300'\n"
        "    user: root\n"
    )
    assert stack.up().code == 0
    who = wait_until(
        lambda: (p := stack.root / ".leapfrog/data/who-1/whoami").exists() and p.read_text(),
        what="whoami file",
    )
    assert who.strip() == "leapfrog"
    entry = pwd.getpwnam("leapfrog")
    assert entry.pw_uid != 0 and entry.pw_shell.endswith("nologin")
    assert (stack.root / ".leapfrog/data/who-1").stat().st_uid == entry.pw_uid
    boss = wait_until(
        lambda: (p := stack.root / ".leapfrog/data/boss-1/whoami").exists() and p.read_text(),
        what="boss whoami",
    )
    assert boss.strip() == "root"
    time.sleep(0.1)
    assert str(stack.root / ".leapfrog/data/who-1") in stack.log("who-1")


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
def test_app_user_that_cannot_enter_the_stack_dir_gets_a_clear_error(stack: StackDir) -> None:
    stack.write("services:\n  web:\n    command: /bin/sleep 300\n")
    stack.root.chmod(0o700)
    result = stack.up()
    assert result.code == 1
    assert f"cannot enter {stack.root}" in result.stderr
    assert f"chmod o+x {stack.root}" in result.stderr
    stack.root.chmod(0o755)
