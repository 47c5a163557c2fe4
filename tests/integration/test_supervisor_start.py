"""Start-up: parallel units, health-gated ordering, readiness, status, logs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from leapfrog.testing import StackDir, wait_until

from .conftest import PYTHON, tiny


def events(stack: StackDir, instance: str) -> dict[str, float]:
    lines = (stack.root / ".leapfrog/data" / instance / "events").read_text().splitlines()
    return {line.split()[0]: float(line.split()[1]) for line in lines}


def test_independent_units_start_in_parallel(stack: StackDir) -> None:
    body = "".join(tiny(f"s{i}", 8000, env={"START_DELAY": "1"}) for i in range(4))
    stack.write(f"services:\n{body}")
    result = stack.up()
    assert result.code == 0, result.output
    starts = [events(stack, f"s{i}-1")["start"] for i in range(4)]
    listens = [events(stack, f"s{i}-1")["listen"] for i in range(4)]
    # Every unit started before any of them was listening: none waited for another.
    assert max(starts) < min(listens)


def test_healthy_dependency_gates_start(stack: StackDir) -> None:
    stack.write(
        "services:\n"
        + tiny("db", 8000, env={"START_DELAY": "1"}, extra="replicas: 2")
        + tiny("web", 8001, extra="depends_on: [db]")
        + tiny("side", 8002, extra="depends_on: {db: {condition: started}}")
    )
    result = stack.up()
    assert result.code == 0, result.output
    db_ready = max(events(stack, f"db-{i}")["listen"] for i in (1, 2))
    assert events(stack, "web-1")["start"] > db_ready
    # `started` only waits for the processes, not their health.
    assert events(stack, "side-1")["start"] < db_ready
    web = stack.instance("web-1")
    db = [stack.instance("db-1"), stack.instance("db-2")]
    env = (stack.root / ".leapfrog/run/state.json").read_text()
    assert web["state"] == "healthy"
    assert json.loads(env)["units"]["web"]["depends_on"] == {"db": "healthy"}
    assert {d["address"] for d in db}.isdisjoint({web["address"]})


def test_status_json_lists_every_instance(stack: StackDir) -> None:
    stack.write("services:\n" + tiny("web", 8000, extra="replicas: 3"))
    assert stack.up().code == 0
    items = stack.status()
    assert [i["name"] for i in items] == ["web-1", "web-2", "web-3"]
    for item in items:
        assert item["state"] == "healthy"
        assert item["address"].startswith("127.") and item["address"] != "127.0.0.1"
        assert item["port"] == 8000
        assert isinstance(item["pid"], int) and os.path.exists(f"/proc/{item['pid']}")
    assert len({i["address"] for i in items}) == 3
    table = stack.cli("status")
    assert table.code == 0 and "web-3" in table.stdout and "healthy" in table.stdout
    ps = stack.cli("ps")
    assert ps.code == 0 and "web-1" in ps.stdout


def test_addresses_are_stable_across_restarts(stack: StackDir) -> None:
    stack.write("services:\n" + tiny("web", 8000, extra="replicas: 2"))
    assert stack.up().code == 0
    before = {i["name"]: i["address"] for i in stack.status()}
    assert stack.down().code == 0
    assert stack.up().code == 0
    assert {i["name"]: i["address"] for i in stack.status()} == before


def test_environment_reaches_instances(stack: StackDir) -> None:
    stack.write(
        "services:\n" + tiny("api", 8000, extra="replicas: 2") + "  env-dump:\n"
        f'    command: {PYTHON} -c "import os,json; '
        "open(os.environ['LEAPFROG_DATA_DIR']+'/env','w').write(json.dumps(dict(os.environ)))\"\n"
        "    depends_on: [api]\n"
        "    restart: 'no'\n"
        "    env: {GREETING: 'hi from ${LEAPFROG_INSTANCE}'}\n"
    )
    result = stack.up()
    assert result.code == 0, result.output
    env = json.loads((stack.root / ".leapfrog/data/env-dump-1/env").read_text())
    api = {i["name"]: i for i in stack.status()}
    assert env["GREETING"] == "hi from env-dump-1"
    assert env["LEAPFROG_SERVICE"] == "env-dump"
    assert env["LEAPFROG_INSTANCE_INDEX"] == "1"
    assert env["API_ENDPOINTS"] == f"{api['api-1']['address']}:8000,{api['api-2']['address']}:8000"
    assert stack.instance("env-dump-1")["state"] == "stopped"


def test_logs_show_output_per_instance(stack: StackDir) -> None:
    stack.write("services:\n" + tiny("web", 8000, extra="replicas: 2"))
    assert stack.up().code == 0
    both = stack.cli("logs", "web")
    assert both.code == 0
    assert "web-1 | listening on" in both.stdout and "web-2 | listening on" in both.stdout
    one = stack.cli("logs", "web-2")
    assert "listening on" in one.stdout and "web-1" not in one.stdout
    missing = stack.cli("logs", "nope")
    assert missing.code != 0 and "no logs for 'nope'" in missing.stderr
    assert "web" in missing.stderr
    sup = stack.cli("logs", "supervisor")
    assert "web-1 healthy" in sup.stdout


def test_up_fails_when_an_instance_never_gets_healthy(stack: StackDir) -> None:
    stack.write(
        "services:\n"
        "  bad:\n"
        f"    command: {PYTHON} tiny.py\n"
        "    port: 8000\n"
        "    env: {FAIL_HEALTH: '1'}\n"
        "    check: {http: /health, start_timeout: 1s}\n"
    )
    result = stack.up()
    assert result.code == 1
    assert "bad-1" in result.stderr
    assert "not healthy within 1s" in result.stderr
    assert "HTTP 503" in result.stderr
    assert "listening on" in result.stderr  # its last log lines
    assert "leapfrog down" in result.stderr


def test_up_fails_fast_when_the_program_is_missing(stack: StackDir) -> None:
    stack.write("services:\n  ghost:\n    command: /nonexistent/program --flag\n")
    result = stack.up()
    assert result.code == 1
    assert "/nonexistent/program" in result.stderr and "not found" in result.stderr
    assert "Traceback" not in result.output


def test_up_twice_changes_nothing(stack: StackDir) -> None:
    stack.write("services:\n" + tiny("web", 8000))
    assert stack.up().code == 0
    pid = stack.instance("web-1")["pid"]
    again = stack.up()
    assert again.code == 0
    assert "already up" in again.stdout and "nothing changed" in again.stdout
    assert stack.instance("web-1")["pid"] == pid


def test_broken_stack_file_gets_a_located_error(stack: StackDir) -> None:
    stack.write("services:\n  web:\n    command: x\n    replcas: 2\n")
    result = stack.up()
    assert result.code == 2
    assert "leapfrog.yaml:4" in result.stderr
    assert "replicas" in result.stderr
    assert "Traceback" not in result.output
    assert not (stack.root / ".leapfrog").exists()


def test_state_dir_holds_logs_data_and_run_state(stack: StackDir) -> None:
    stack.write("services:\n" + tiny("web", 8000))
    assert stack.up().code == 0
    state = Path(stack.root / ".leapfrog")
    assert (state / "logs/web-1.log").is_file()
    assert (state / "data/web-1").is_dir()
    assert (state / "run/state.json").is_file()
    assert oct((state / "run").stat().st_mode & 0o777) == "0o700"


def test_tcp_and_exec_checks(stack: StackDir) -> None:
    stack.write(
        "services:\n"
        "  tcp:\n"
        f"    command: {PYTHON} tiny.py\n"
        "    port: 8000\n"
        "    env: {START_DELAY: '0.5'}\n"
        "    check: {tcp: true}\n"
        "  gate:\n"
        "    command: /bin/sleep 300\n"
        "    check: {exec: 'test -f ${LEAPFROG_DATA_DIR}/ready', interval: 100ms}\n"
    )
    gate = stack.root / ".leapfrog/data/gate-1"
    result = stack.up("--timeout", "2s")
    assert result.code == 1  # gate is not ready yet
    assert "gate-1" in result.stderr and "exit 1" in result.stderr
    assert stack.instance("tcp-1")["state"] == "healthy"
    (gate / "ready").write_text("")
    wait_until(lambda: stack.instance("gate-1")["state"] == "healthy", what="gate healthy")


def test_healthy_instance_turns_unhealthy_after_retries(stack: StackDir) -> None:
    stack.write(
        "services:\n"
        "  web:\n"
        f"    command: {PYTHON} tiny.py\n"
        "    port: 8000\n"
        "    check: {http: /health, interval: 100ms, retries: 3}\n"
    )
    assert stack.up().code == 0
    (stack.root / ".leapfrog/data/web-1/fail").write_text("")
    item = wait_until(
        lambda: (i := stack.instance("web-1"))["state"] == "unhealthy" and i,
        what="web-1 unhealthy",
    )
    assert "HTTP 503" in item["detail"]
    (stack.root / ".leapfrog/data/web-1/fail").unlink()
    wait_until(lambda: stack.instance("web-1")["state"] == "healthy", what="web-1 healthy again")


def test_logs_follow_prints_new_lines(stack: StackDir) -> None:
    stack.write("services:\n" + tiny("web", 8000))
    assert stack.up().code == 0
    follower = subprocess.Popen(
        [sys.executable, "-m", "leapfrog", "logs", "-f", "web"],
        cwd=stack.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    try:
        assert follower.stdout is not None
        assert "starting at" in follower.stdout.readline()
        assert "listening on" in follower.stdout.readline()
        assert stack.cli("restart", "web").code == 0  # writes a new header and new output
        assert "starting at" in follower.stdout.readline()
        assert "listening on" in follower.stdout.readline()
    finally:
        follower.kill()
        follower.wait()


def test_control_socket_survives_garbage(stack: StackDir) -> None:
    import socket

    stack.write("services:\n" + tiny("web", 8000))
    assert stack.up().code == 0
    path = stack.state_file()["supervisor"]["socket"]
    for junk in (b"not json\n", b'{"op": "explode"}\n', b'["op"]\n', b"\xff\xfe\n", b""):
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(5)
            sock.connect(path)
            sock.sendall(junk)
            sock.shutdown(socket.SHUT_WR)
            answer = sock.makefile("rb").read()
        assert junk == b"" or b"error" in answer
    assert stack.instance("web-1")["state"] == "healthy"
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
