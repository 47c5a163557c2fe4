"""`leapfrog exec`: a command in every chosen instance's context, against a real stack."""

from __future__ import annotations

import json
import os
import pwd

from leapfrog.testing import StackDir

from .conftest import tiny

MARK = 'echo "$LEAPFROG_INSTANCE $HOST $PORT $(id -un) $(pwd)" >> "$LEAPFROG_DATA_DIR/exec-marks"'


def test_exec_all_runs_once_in_each_instance_in_its_context(stack: StackDir) -> None:
    stack.write(
        "services:\n"
        + tiny("web", 8000, extra="replicas: 2", env={"GREETING": "hello from web"})
        + tiny("api", 8001, extra="replicas: 2", env={"GREETING": "hello from api"})
    )
    assert stack.up().code == 0
    status = {i["name"]: i for i in stack.status()}
    assert sorted(status) == ["api-1", "api-2", "web-1", "web-2"]

    # One fails (api-2), on purpose: the summary says so and the exit code is 1.
    script = MARK + '; echo "$GREETING"; test "$LEAPFROG_INSTANCE" != api-2'
    result = stack.cli("exec", "--all", "--json", "--", "sh", "-c", script)
    assert result.code == 1, result.output
    body = json.loads(result.stdout)
    assert body["total"] == 4 and body["failed"] == 1
    codes = {r["instance"]: r["exit_code"] for r in body["results"]}
    assert codes == {"web-1": 0, "web-2": 0, "api-1": 0, "api-2": 1}
    outputs = {r["instance"]: r["stdout"] for r in body["results"]}
    assert outputs["web-2"] == "hello from web" and outputs["api-1"] == "hello from api"

    for name, item in status.items():
        data_dir = stack.root / ".leapfrog/data" / name
        marks = (data_dir / "exec-marks").read_text().splitlines()
        assert len(marks) == 1, marks  # once in each
        instance, host, port, user, cwd = marks[0].split(" ", 4)
        assert (instance, host, port) == (name, item["address"], str(item["port"]))
        # its user (the app user when leapfrog runs as root) and working directory
        owner = pwd.getpwuid(data_dir.stat().st_uid).pw_name
        expected_user = owner if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        assert user == expected_user
        assert cwd == str(stack.root)

    # The table, the prefixed output, the failing instance named.
    text = stack.cli("exec", "--all", "--", "sh", "-c", script)
    assert text.code == 1
    assert "web-1 | hello from web" in text.stdout
    assert "api-2 | hello from api" in text.stdout
    assert "failed in 1 of 4 instance(s): api-2" in text.stderr
    assert "INSTANCE" in text.stdout and "EXIT" in text.stdout


def test_exec_chooses_instances_and_times_out(stack: StackDir) -> None:
    stack.write("services:\n" + tiny("web", 8000, extra="replicas: 3") + tiny("other", 8001))
    assert stack.up().code == 0

    one = stack.cli("exec", "web-2", "--json", "--", "printenv", "LEAPFROG_INSTANCE")
    assert one.code == 0, one.output
    assert [r["stdout"] for r in json.loads(one.stdout)["results"]] == ["web-2"]

    unit = stack.cli("exec", "web", "--parallel", "1", "--json", "--", "printenv", "HOST")
    assert unit.code == 0, unit.output
    assert [r["instance"] for r in json.loads(unit.stdout)["results"]] == [
        "web-1",
        "web-2",
        "web-3",
    ]

    slow = stack.cli("exec", "other", "--timeout", "1s", "--json", "--", "sleep", "30")
    assert slow.code == 1
    (result,) = json.loads(slow.stdout)["results"]
    assert result["timed_out"] and result["exit_code"] == 124 and result["seconds"] < 10

    missing = stack.cli("exec", "nope", "--", "true")
    assert missing.code == 1 and "no unit or instance named 'nope'" in missing.stderr
    assert "Traceback" not in missing.output
    absent = stack.cli("exec", "web-1", "--", "no-such-program-here")
    assert absent.code == 1 and "command not found" in absent.stdout
    nothing = stack.cli("exec", "web")
    assert nothing.code == 1 and "no command given" in nothing.stderr
