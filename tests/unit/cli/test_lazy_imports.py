"""Commands import what they use when they run: every command and subcommand still has
its help, errors still get their words, and the cheap commands load nothing heavy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import leapfrog.runtime.local as local_runtime
from leapfrog.cli import main
from leapfrog.cli.app import cli


def _paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    ctx = click.Context(group)
    found: list[tuple[str, ...]] = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        found.append((*prefix, name))
        if isinstance(command, click.Group):
            found += _paths(command, (*prefix, name))
    return found


ALL = _paths(cli)


def test_every_command_is_listed_lazily_or_not() -> None:
    top = {path[0] for path in ALL}
    assert {"up", "down", "status", "logs", "backup", "catalog", "render", "apply"} <= top
    assert {"lb", "pipeline", "rollout", "secrets", "template"} <= top
    assert len(ALL) > len(top)  # the groups' own subcommands are walked too


@pytest.mark.parametrize("path", ALL, ids=" ".join)
def test_every_command_and_subcommand_has_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_an_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bakup"]) == 2
    assert "No such command 'bakup'" in capsys.readouterr().err


def test_a_broken_stack_file_is_rendered_with_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The spec is imported only by the command: its error is still recognised."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "leapfrog.yaml").write_text("services:\n  web:\n    replicas: 2\n")
    assert main(["status"]) == 2
    err = capsys.readouterr().err
    assert "leapfrog.yaml:2" in err and "`command` is required" in err and "Traceback" not in err


def _loaded_after(argv: list[str], cwd: Path) -> set[str]:
    code = (
        "import json, sys\n"
        "from leapfrog.cli import main\n"
        f"code = main({argv!r})\n"
        "print(json.dumps([code, sorted(sys.modules)]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout
    exit_code, modules = json.loads(out.splitlines()[-1])
    assert exit_code == 0
    return set(modules)


def test_version_loads_neither_the_spec_nor_the_runtime(tmp_path: Path) -> None:
    loaded = _loaded_after(["--version"], tmp_path)
    assert not {"pydantic", "leapfrog.spec", "leapfrog.runtime.local.commands"} & loaded
    assert not {"leapfrog.backup", "leapfrog.components", "asyncio"} & loaded


def test_status_loads_only_the_components_its_stack_names(tmp_path: Path) -> None:
    (tmp_path / "leapfrog.yaml").write_text("services:\n  web:\n    command: sleep 1\n")
    loaded = _loaded_after(["status"], tmp_path)
    heavy = {"httpx", "confluent_kafka", "jinja2", "lightkube", "leapfrog.backup"}
    assert not heavy & loaded
    assert not {
        m
        for m in loaded
        if m.startswith("leapfrog.components.")
        and "base" not in m
        and m != "leapfrog.components.kube"
    }
    assert "leapfrog.runtime.local.supervisor" not in loaded


def test_the_runtimes_lazy_names_are_what_they_were() -> None:
    for name in local_runtime.__all__:
        value = getattr(local_runtime, name)
        assert not isinstance(value, type(local_runtime)), f"{name} is a module"
