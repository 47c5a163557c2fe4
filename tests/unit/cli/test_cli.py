"""The command line: help everywhere, clear errors, JSON where scripts want it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from leapfrog.cli import main
from leapfrog.cli.app import cli

COMMANDS = ["up", "down", "status", "ps", "logs", "restart", "validate", "schema"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output and len(result.output.splitlines()) > 3


def test_top_level_help_lists_commands() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for command in COMMANDS:
        assert command in result.output


def test_schema_is_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert "services" in schema["properties"]


def test_validate_ok_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stack = tmp_path / "leapfrog.yaml"
    stack.write_text("services:\n  web: {command: x, port: 80}\n")
    assert main(["validate", "-f", str(stack)]) == 0
    assert "is valid" in capsys.readouterr().out
    assert main(["-f", str(stack), "validate", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["services"]["web"]["port"] == 80


def test_validate_error_is_located_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = tmp_path / "leapfrog.yaml"
    stack.write_text("services:\n  web:\n    command: x\n    replicas: two\n")
    assert main(["validate", "-f", str(stack)]) == 2
    err = capsys.readouterr().err
    assert "leapfrog.yaml:4" in err and "replicas" in err and "Traceback" not in err


@pytest.mark.timeout(20)
@pytest.mark.parametrize("command", ["validate", "status"])
def test_a_device_as_stack_file_is_refused(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Read until memory ran out before the cap; status reads a broken file's state_dir too.
    assert main([command, "-f", "/dev/zero"]) == 2
    err = capsys.readouterr().err
    assert "larger than 1 MiB" in err and "Traceback" not in err


def test_a_broken_state_dir_is_reported_not_a_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = tmp_path / "leapfrog.yaml"
    stack.write_text('services: {web: {command: x}}\nlocal: {state_dir: "a\\0b"}\n')
    assert main(["status", "-f", str(stack)]) == 2
    err = capsys.readouterr().err
    assert "leapfrog.yaml:2" in err and "control character" in err and "internal" not in err


def test_missing_stack_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "-f", str(tmp_path / "nope.yaml")]) == 2
    err = capsys.readouterr().err
    assert "nope.yaml" in err and "Traceback" not in err


def test_usage_error_is_short(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["up", "--bogus"]) == 2
    err = capsys.readouterr().err
    assert "No such option" in err and "Traceback" not in err


def test_bad_duration_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["up", "-d", "--timeout", "soon"]) == 2
    assert "duration" in capsys.readouterr().err


def test_status_of_a_stack_never_started(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = tmp_path / "leapfrog.yaml"
    stack.write_text("services:\n  web: {command: x}\n")
    assert main(["status", "-f", str(stack)]) == 0
    assert "never been started" in capsys.readouterr().out
    assert main(["status", "-f", str(stack), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_restart_when_down(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stack = tmp_path / "leapfrog.yaml"
    stack.write_text("services:\n  web: {command: x}\n")
    assert main(["restart", "web", "-f", str(stack)]) == 1
    assert "not up" in capsys.readouterr().err


def test_internal_errors_are_reported_without_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import leapfrog.spec

    def boom() -> None:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(leapfrog.spec, "json_schema", boom)  # `schema` imports it when run
    monkeypatch.setenv("HOME", str(tmp_path))
    assert main(["schema"]) == 70
    err = capsys.readouterr().err
    assert "internal error" in err and "Traceback" not in err
    assert "ZeroDivisionError" in (tmp_path / ".cache/leapfrog/crash.log").read_text()


def test_catalog_serve_help_tells_what_acl_does() -> None:
    result = CliRunner().invoke(cli, ["catalog", "serve", "--help"], terminal_width=200)
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for words in (
        "--acl [on|off]",
        "Consul's default-deny",
        "generated (mode 0600)",
        "--acl-tokens-file",
        '"dns" is what DNS lookups may read',
        "--anonymous-read / --no-anonymous-read",
        "KV values",
    ):
        assert words in text, words
