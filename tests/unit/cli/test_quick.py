"""cli/quick.py: a plain `scale` sends its request before click is loaded; anything else
is left, untouched, to the CLI."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from leapfrog.cli.quick import _parse_scale, _parse_up, quick_command
from leapfrog.runtime.local.paths import StatePaths
from leapfrog.shared.procs import process_start_time


@pytest.mark.parametrize(
    ("args", "wanted"),
    [
        (["scale", "web=+4"], ("leapfrog.yaml", 300.0, False, ["web=+4"])),
        (["scale", "web=2", "db=-1", "--json"], ("leapfrog.yaml", 300.0, True, ["web=2", "db=-1"])),
        (["-f", "a.yaml", "scale", "web=1"], ("a.yaml", 300.0, False, ["web=1"])),
        (["--file=a.yaml", "scale", "-f", "b.yaml", "web=1"], ("b.yaml", 300.0, False, ["web=1"])),
        (["scale", "--timeout", "1m30s", "web=1"], ("leapfrog.yaml", 90.0, False, ["web=1"])),
        (
            ["scale", "web=1", "--timeout=250ms", "--file", "c.yaml"],
            ("c.yaml", 0.25, False, ["web=1"]),
        ),
    ],
)
def test_plain_scale_arguments_are_read_as_click_reads_them(
    args: list[str], wanted: tuple[str, float, bool, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LEAPFROG_FILE", raising=False)
    parsed = _parse_scale(args)
    assert parsed is not None
    assert (str(parsed[0]), *parsed[1:]) == wanted


def test_the_file_from_the_environment_is_taken_unless_an_option_names_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LEAPFROG_FILE", "env.yaml")
    assert str(_parse_scale(["scale", "web=1"])[0]) == "env.yaml"  # type: ignore[index]
    assert str(_parse_scale(["-f", "x.yaml", "scale", "web=1"])[0]) == "x.yaml"  # type: ignore[index]


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["status"],
        ["scale"],  # no counts: click's usage error
        ["scale", "--help"],
        ["scale", "-h"],
        ["--help", "scale", "web=1"],
        ["scale", "web=1", "--verbose"],
        ["scale", "--timeout", "soon", "web=1"],
        ["scale", "--timeout", "web=1"],
        ["scale", "--json=yes", "web=1"],
        ["scale", "-f"],
        ["scale", "--file=", "web=1"],
        ["scale", "-fx.yaml", "web=1"],
        ["scale", "--", "web=1"],
        ["-V", "scale", "web=1"],
    ],
)
def test_anything_else_is_left_to_the_cli(args: list[str]) -> None:
    assert _parse_scale(args) is None
    assert quick_command(args) is None


def _running(root: Path) -> StatePaths:
    """A stack dir whose state names this process as its supervisor."""
    root.mkdir(exist_ok=True)
    (root / "leapfrog.yaml").write_text("services:\n  web: {command: sleep 1}\n")
    paths = StatePaths(root / ".leapfrog")
    paths.state_file.parent.mkdir(parents=True)
    ticks = process_start_time(os.getpid())
    paths.state_file.write_text(
        json.dumps({"supervisor": {"pid": os.getpid(), "start_ticks": ticks}})
    )
    return paths


def test_a_stack_the_quick_path_cannot_place_is_left_to_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LEAPFROG_FILE", raising=False)
    assert quick_command(["scale", "web=1"]) is None  # no stack file
    (tmp_path / "leapfrog.yaml").write_text("services:\n  web: {command: sleep 1}\n")
    assert quick_command(["scale", "web=1"]) is None  # no state yet
    _running(tmp_path / "other")
    other = str(tmp_path / "other" / "leapfrog.yaml")
    assert quick_command(["scale", "-f", other, "web=1"]) is not None
    assert quick_command(["scale", "-f", other, "web"]) is None  # not NAME=N: click says so
    with Path(other).open("a") as file:
        file.write("local: {state_dir: elsewhere}\n")
    assert quick_command(["scale", "-f", other, "web=1"]) is None


def _answer_one_scale(sock_path: Path, seen: list[dict[str, Any]]) -> threading.Thread:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(sock_path))
    server.listen(1)

    def serve() -> None:
        with server:
            conn, _ = server.accept()
            with conn, conn.makefile("rb") as lines:
                seen.append(json.loads(lines.readline()))
                answer = {"scaled": {"web": {"from": 2, "to": 1, "stop": ["web-2"]}}}
                conn.sendall(json.dumps(answer).encode() + b"\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def _leapfrog(cwd: Path, args: list[str], prelude: str = "") -> subprocess.CompletedProcess[str]:
    """The console script, after `prelude`."""
    code = prelude + "import sys\nfrom leapfrog.cli import main\nsys.exit(main())\n"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_request_is_sent_before_click_rich_or_asyncio_is_loaded(tmp_path: Path) -> None:
    paths = _running(tmp_path)
    seen: list[dict[str, Any]] = []
    server = _answer_one_scale(paths.control_socket, seen)
    spy = (
        "import sys\n"
        "from leapfrog.runtime.local import control\n"
        "sent = control.request\n"
        "def spy(*args, **kwargs):\n"
        "    heavy = {'click', 'rich', 'asyncio', 'pydantic', 'yaml'} & set(sys.modules)\n"
        "    print('loaded at the send:', sorted(heavy), file=sys.stderr, flush=True)\n"
        "    return sent(*args, **kwargs)\n"
        "control.request = spy\n"
    )
    done = _leapfrog(tmp_path, ["scale", "web=1"], spy)
    server.join(10)
    assert done.returncode == 0, done.stderr
    assert "loaded at the send: []" in done.stderr
    assert seen == [{"op": "scale", "replicas": {"web": "1"}}]
    assert "web: 2 → 1" in done.stdout and "drained and stopped: web-2" in done.stdout


def test_the_quick_paths_errors_are_the_clis(tmp_path: Path) -> None:
    """The supervisor recorded is gone: the same sentence and hint as through click."""
    paths = _running(tmp_path)
    paths.state_file.write_text(json.dumps({"supervisor": {"pid": 1, "start_ticks": 1}}))
    done = _leapfrog(tmp_path, ["scale", "web=1"])
    assert done.returncode == 1, done.stderr
    assert "error: the stack is not up" in done.stderr and "leapfrog up -d" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "wanted"),
    [
        (["up"], ("leapfrog.yaml", False, None)),
        (["up", "-d"], ("leapfrog.yaml", True, None)),
        (["-f", "a.yaml", "up", "--detach"], ("a.yaml", True, None)),
        (["--file=a.yaml", "up", "-f", "b.yaml", "-d"], ("b.yaml", True, None)),
        (["up", "-d", "--timeout", "1m30s"], ("leapfrog.yaml", True, 90.0)),
        (["up", "--timeout=250ms", "--file", "c.yaml", "-d"], ("c.yaml", True, 0.25)),
    ],
)
def test_plain_up_arguments_are_read_as_click_reads_them(
    args: list[str], wanted: tuple[str, bool, float | None], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LEAPFROG_FILE", raising=False)
    parsed = _parse_up(args)
    assert parsed is not None
    assert (str(parsed[0]), *parsed[1:]) == wanted


def test_up_takes_the_file_from_the_environment_unless_an_option_names_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LEAPFROG_FILE", "env.yaml")
    assert str(_parse_up(["up", "-d"])[0]) == "env.yaml"  # type: ignore[index]
    assert str(_parse_up(["up", "-d", "-f", "x.yaml"])[0]) == "x.yaml"  # type: ignore[index]


@pytest.mark.parametrize(
    "args",
    [
        ["up", "--help"],
        ["up", "-h"],
        ["--help", "up"],
        ["up", "--bogus"],
        ["up", "web"],
        ["up", "-df", "x.yaml"],
        ["up", "--detach=yes"],
        ["up", "-d", "--timeout", "soon"],
        ["up", "-d", "--timeout"],
        ["up", "-f"],
        ["up", "--file="],
        ["up", "--", "-d"],
        ["-V", "up"],
        ["down"],
    ],
)
def test_any_other_up_is_left_to_the_cli(args: list[str]) -> None:
    assert _parse_up(args) is None
    assert quick_command(args) is None


def test_a_directory_for_the_stack_file_is_left_to_the_cli(tmp_path: Path) -> None:
    assert quick_command(["up", "-d", "-f", str(tmp_path)]) is None  # click: "is a directory"
    assert quick_command(["up", "-d", "-f", str(tmp_path / "leapfrog.yaml")]) is not None


def test_up_without_click_has_the_clis_words_for_a_broken_or_missing_stack(
    tmp_path: Path,
) -> None:
    (tmp_path / "leapfrog.yaml").write_text("services:\n  web:\n    replicas: 2\n")
    broken = _leapfrog(tmp_path, ["up", "-d"])
    assert broken.returncode == 2
    assert "leapfrog.yaml:2" in broken.stderr and "`command` is required" in broken.stderr
    missing = _leapfrog(tmp_path, ["up", "-d", "-f", "nope.yaml"])
    assert missing.returncode == 2 and "no stack file at nope.yaml" in missing.stderr
    for done in (broken, missing):
        assert "Traceback" not in done.stderr


def test_ctrl_c_in_up_without_click_ends_as_through_click(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from leapfrog.cli import app, main, up

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(up, "run_up", interrupted)
    monkeypatch.setattr(app, "run_up", interrupted)
    stack = str(tmp_path / "leapfrog.yaml")
    assert quick_command(["up", "-d", "-f", stack]) is not None
    assert main(["up", "-d", "-f", stack]) == 130
    quick = capsys.readouterr().err
    assert quick_command(["up", "-df", stack]) is None  # a cluster: click's to read
    assert main(["up", "-df", stack]) == 130
    assert capsys.readouterr().err == quick == "\naborted\n"
