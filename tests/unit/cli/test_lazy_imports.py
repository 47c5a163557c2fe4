"""Commands import what they use when they run: every command and subcommand still has
its help, errors still get their words, and the cheap commands load nothing heavy."""

from __future__ import annotations

import getpass
import json
import os
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


def test_status_loads_no_telemetry_shipper(tmp_path: Path) -> None:
    """The component contract needs two names of the telemetry package, not its shipper."""
    (tmp_path / "leapfrog.yaml").write_text("services:\n  web:\n    command: sleep 1\n")
    loaded = _loaded_after(["status"], tmp_path)
    assert "leapfrog.telemetry._logformat" in loaded
    assert (
        not {
            "leapfrog.telemetry._shipper",
            "leapfrog.telemetry._transport",
            "leapfrog.telemetry._hostlogs",
            "leapfrog.telemetry._handler",
        }
        & loaded
    )


def test_the_telemetry_packages_lazy_names_are_what_they_were() -> None:
    from leapfrog import telemetry

    for name in telemetry.__all__:
        value = getattr(telemetry, name)
        assert not isinstance(value, type(telemetry)), f"{name} is a module"
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        telemetry.Nope  # noqa: B018


def _console_script(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """The command as users run it: `main()` without argv ends the process itself."""
    code = "import sys\nfrom leapfrog.cli import main\nsys.exit(main())\n"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        check=False,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_console_script_flushes_everything_and_keeps_its_exit_status(
    tmp_path: Path,
) -> None:
    schema = _console_script(["schema"], tmp_path)  # long output into a pipe: all of it
    assert schema.returncode == 0, schema.stderr
    assert "services" in json.loads(schema.stdout)["properties"]
    missing = _console_script(["validate", "-f", "nope.yaml"], tmp_path)
    assert missing.returncode == 2
    assert "no stack file at nope.yaml" in missing.stderr and "Traceback" not in missing.stderr
    unknown = _console_script(["bakup"], tmp_path)
    assert unknown.returncode == 2 and "No such command 'bakup'" in unknown.stderr


def test_the_console_script_runs_atexit_handlers(tmp_path: Path) -> None:
    code = (
        "import atexit, sys\n"
        "from leapfrog.cli import main\n"
        "atexit.register(lambda: print('atexit ran', flush=True))\n"
        "sys.exit(main())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, "--version"],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0
    assert done.stdout.splitlines() == ["leapfrog, version 0.1.0", "atexit ran"]


def test_a_closed_pipe_at_the_end_is_no_error(tmp_path: Path) -> None:
    """`leapfrog schema | head -1`: the reader is gone before the last flush."""
    code = "import sys\nfrom leapfrog.cli import main\nsys.exit(main())\n"
    with subprocess.Popen(
        [sys.executable, "-c", code, "schema"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.read(10)
        proc.stdout.close()
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=60) == 0
    assert "Traceback" not in err and "BrokenPipe" not in err


def _in_one_service_stack(tmp_path: Path, code: str) -> subprocess.CompletedProcess[str]:
    """`code` run in a stack dir of one service, without Kafka, as this user (tmp_path may
    be closed to an app user)."""
    me = getpass.getuser()
    (tmp_path / "leapfrog.yaml").write_text(
        f"services:\n  web:\n    command: sleep 1\n    user: {me}\ncatalog: {{enabled: false}}\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )


def test_a_stack_without_kafka_does_not_load_the_collector(tmp_path: Path) -> None:
    """The supervisor of a stack without Kafka collects nothing: its collector (the
    telemetry shipper) stays unloaded on the way to the first spawn."""
    code = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from leapfrog.runtime import local\n"
        "from leapfrog.spec import load_stack\n"
        "prepared = local.prepare(load_stack(Path('leapfrog.yaml')))\n"
        "supervisor = prepared.supervisor()\n"
        "print(json.dumps([supervisor.companions == [], sorted(sys.modules)]))\n"
    )
    done = _in_one_service_stack(tmp_path, code)
    assert done.returncode == 0, done.stderr
    no_companions, modules = json.loads(done.stdout.splitlines()[-1])
    assert no_companions
    assert "leapfrog.runtime.local.supervisor" in modules
    assert "leapfrog.runtime.local.collector" not in modules
    assert "leapfrog.telemetry._shipper" not in modules


def test_up_forks_its_supervisor_before_loading_rich_or_click(tmp_path: Path) -> None:
    """`up -d` shows progress with rich after the fork: the supervisor does not wait for
    rich's import (spec/errors.py and cli/install.py load it only to print), nor for
    click's (a plain `up` runs from cli/quick.py)."""
    code = (
        "import json, sys\n"
        "from leapfrog.runtime.local import daemon\n"
        "def detach(make, log_path):\n"
        "    print(json.dumps(sorted(sys.modules)))\n"
        "    raise SystemExit(0)\n"
        "daemon.detach = detach\n"
        "from leapfrog.cli import main\n"
        "main(['up', '-d'])\n"
    )
    done = _in_one_service_stack(tmp_path, code)
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stdout.splitlines()[-1]))
    assert "leapfrog.runtime.local.supervisor" in loaded  # the fork was reached
    assert not {m for m in loaded if m == "rich" or m.startswith("rich.")}
    assert "click" not in loaded
    # a stack on loopback addresses, rendered nowhere: no namespaces, no Kubernetes
    assert not {"leapfrog.runtime.local.network.namespaces", "leapfrog.components.kube"} & loaded


def test_scale_sends_its_request_without_asyncio_or_rich() -> None:
    """What `scale` imports until its request is on the control socket: the new instances
    wait for that (bench/scale.py splits the time)."""
    code = (
        "import sys, json\n"
        "import leapfrog.cli.app, leapfrog.cli.scale\n"
        "from leapfrog.runtime.local import control, recovery, scaling_client\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    loaded = set(json.loads(out.splitlines()[-1]))
    assert "leapfrog.runtime.local.scaling_client" in loaded
    assert not {"asyncio", "rich", "rich.console", "ssl"} & loaded


def test_the_lazy_consoles_work_as_rich_consoles(capsys: pytest.CaptureFixture[str]) -> None:
    from rich.live import Live
    from rich.text import Text

    from leapfrog.cli.options import console, err

    with Live(Text("waiting"), console=console, transient=True) as live:  # `with console`
        live.update(Text("still waiting"))
    console.print("[green]done[/]")
    err.print("a warning")
    captured = capsys.readouterr()
    assert "done" in captured.out and "[green]" not in captured.out
    assert "a warning" in captured.err


def test_a_command_reading_the_stack_skips_pydantics_plugin_scan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With plugins off (the CLI's default), nothing imports importlib.metadata; a user who
    chose plugins keeps pydantic's own loader."""
    (tmp_path / "leapfrog.yaml").write_text("services:\n  web:\n    command: sleep 1\n")
    monkeypatch.delenv("PYDANTIC_DISABLE_PLUGINS", raising=False)
    loaded = _loaded_after(["validate"], tmp_path)
    assert "leapfrog.spec.models" in loaded and "importlib.metadata" not in loaded
    monkeypatch.setenv("PYDANTIC_DISABLE_PLUGINS", "some_plugin")
    assert "importlib.metadata" in _loaded_after(["validate"], tmp_path)


def test_the_collector_runs_again_once_the_stack_is_loaded(tmp_path: Path) -> None:
    """Paused while the models load, on for what the command does next (a foreground
    `up` runs for days), also when the stack file is broken."""
    import gc

    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text("services:\n  web:\n    command: sleep 1\n")
    bad.write_text("services:\n  web:\n    replicas: 2\n")
    assert main(["validate", "-f", str(good)]) == 0
    assert gc.isenabled()
    assert main(["validate", "-f", str(bad)]) == 2
    assert gc.isenabled()
