"""`up` on a stack that is already up applies the changed stack file."""

from __future__ import annotations

from leapfrog.testing import StackDir

from .conftest import tiny


def events(stack: StackDir, instance: str) -> list[tuple[str, float, int]]:
    path = stack.root / ".leapfrog/data" / instance / "events"
    rows = [line.split() for line in path.read_text().splitlines()]
    return [(r[0], float(r[1]), int(r[2])) for r in rows]


def test_scale_add_change_and_remove(stack: StackDir) -> None:
    stack.write("services:\n" + tiny("web", 8000, extra="replicas: 2") + tiny("old", 8001))
    assert stack.up().code == 0
    before = {i["name"]: i for i in stack.status()}

    stack.write(
        "services:\n"
        + tiny("web", 8000, env={"VERSION": "2"}, extra="replicas: 3")
        + tiny("new", 8002, extra="depends_on: [web]")
    )
    result = stack.up()
    assert result.code == 0, result.output
    assert "already up" in result.stdout
    assert "start: web-3, new-1" in result.stdout
    assert "stop: old-1" in result.stdout
    assert "replace (one at a time): web-1, web-2" in result.stdout
    after = {i["name"]: i for i in stack.status()}
    assert sorted(after) == ["new-1", "web-1", "web-2", "web-3"]
    assert all(i["state"] == "healthy" for i in after.values())
    for name in ("web-1", "web-2"):
        assert after[name]["pid"] != before[name]["pid"]
        assert after[name]["address"] == before[name]["address"]  # same place, new process
    # one at a time: the second old instance was stopped only after the first new one listened
    web1, web2 = events(stack, "web-1"), events(stack, "web-2")
    new_web1_listen = [t for e, t, pid in web1 if e == "listen" and pid == after["web-1"]["pid"]]
    old_web2_term = [t for e, t, pid in web2 if e == "term" and pid == before["web-2"]["pid"]]
    assert new_web1_listen and old_web2_term and new_web1_listen[0] < old_web2_term[0]

    again = stack.up()
    assert again.code == 0 and "nothing changed" in again.stdout
    assert {i["name"]: i["pid"] for i in stack.status()} == {n: i["pid"] for n, i in after.items()}


def test_apply_with_a_broken_file_changes_nothing(stack: StackDir) -> None:
    stack.write("services:\n" + tiny("web", 8000))
    assert stack.up().code == 0
    pid = stack.instance("web-1")["pid"]
    stack.write("services:\n  web:\n    command: x\n    replicas: lots\n")
    result = stack.up()
    assert result.code == 2 and "leapfrog.yaml:4" in result.stderr
    assert stack.instance("web-1")["pid"] == pid  # status still works, with a warning
    assert "has 1 problem(s)" in stack.cli("status").stderr
    down = stack.down()
    assert down.code == 0 and "is down" in down.stdout
