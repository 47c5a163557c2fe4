"""The happy path: a stack file using every field, and the Stack the loader returns."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import leapfrog.spec as spec_package
from leapfrog.spec import Problem, Stack, load_stack, parse_stack

Parse = Callable[[str], Stack]

FULL = (Path(__file__).parent / "full_stack.yaml").read_text()
"""A stack file that uses every field, and both forms of every shorthand."""


@pytest.fixture
def full(tmp_path: Path) -> Stack:
    path = tmp_path / "leapfrog.yaml"
    path.write_text(FULL)
    (tmp_path / "web").mkdir()  # web's working_dir, which must exist
    return load_stack(path)


def test_every_field(full: Stack) -> None:
    services = full.spec.services
    web, api, worker, cache = (
        services["web"],
        services["api"],
        services["worker"],
        services["cache"],
    )
    assert list(services) == ["web", "api", "worker", "cache"]
    assert web.command == ["python", "-m", "http.server", "${PORT}", "--bind", "${HOST}"]
    assert (web.replicas, web.port, web.user, web.working_dir) == (3, 8080, "www", "web")
    assert (web.stop_signal, web.stop_grace_period, web.restart.policy) == ("SIGINT", 30, "always")
    assert web.check is not None and web.check.kind == "http"
    assert (web.check.http, web.check.interval, web.check.timeout) == ("/health/ready", 90, 0.5)
    assert (web.check.retries, web.check.start_interval, web.check.start_timeout) == (5, 0.1, 120)
    assert api.command == ["uvicorn", "app:main", "--port", "${PORT}"]
    assert api.check is not None and api.check.kind == "tcp"
    assert api.restart.model_dump() == {
        "policy": "on-failure",
        "backoff": 1.0,
        "max_backoff": 60.0,
        "reset_after": 20.0,
        "crashloop_after": 7,
    }
    assert worker.replicas == 0
    assert worker.check is not None and worker.check.exec == ["test", "-f", "/tmp/ready"]
    assert worker.restart.policy == "no"
    assert cache.restart.policy == "no" and cache.depends_on == {}
    assert full.spec.components == {}
    local = full.spec.local
    assert (local.state_dir, local.addresses, local.app_user) == (
        ".state",
        "127.42.0.0/16",
        "shopper",
    )


def test_depends_on_both_forms(full: Stack) -> None:
    web, api = full.spec.services["web"], full.spec.services["api"]
    assert {k: v.condition for k, v in web.depends_on.items()} == {
        "api": "healthy",
        "cache": "healthy",
    }
    assert {k: v.condition for k, v in api.depends_on.items()} == {
        "cache": "started",
        "worker": "healthy",
    }


def test_env_both_forms_keep_values_as_written(full: Stack) -> None:
    assert full.spec.services["web"].env == {
        "DEBUG": "yes",
        "LEVEL": "2",
        "RATIO": "1.10",
        "MODE": "0700",
        "EMPTY": "",
        "NAME": "shop",
    }
    assert full.spec.services["api"].env == {"A": "1", "B": "two=2", "C": ""}


def test_stack_paths_and_name(full: Stack, tmp_path: Path) -> None:
    base = tmp_path.resolve()
    assert full.path == base / "leapfrog.yaml"
    assert full.base_dir == base
    assert full.state_dir == base / ".state"
    assert full.name == "shop"


def test_lines_for_every_written_field(full: Stack) -> None:
    lines = FULL.splitlines()
    for field, line in full.lines.items():
        *_, parent, last = ["", *field.split(".")]
        text = lines[line - 1]
        assert last in text or parent in text, field  # list items and shorthands: the parent
    assert full.lines["services.web.port"] == 10
    assert full.lines["services.web.depends_on.cache"] == 18  # list form, by name
    assert full.lines["services.api.env.B"] == 32  # list form, by name
    assert full.lines["services.worker.restart.policy"] == 48  # shorthand, as the long form
    assert full.lines["services.web.restart"] == 3  # merged from the anchor
    assert "x-common" not in full.lines


def test_line_of_falls_back_to_the_nearest_written_parent(full: Stack) -> None:
    assert full.line_of("services.web.port") == 10
    assert full.line_of("services.cache.replicas") == full.lines["services.cache"]
    assert full.line_of("components.kafka") == full.lines["components"]
    assert full.line_of("nothing.here") is None


def test_minimal_file(parse: Parse, tmp_path: Path) -> None:
    stack = parse("services:\n  web:\n    command: serve\n")
    assert stack.spec.services["web"].restart.policy == "on-failure"
    assert stack.state_dir == tmp_path.resolve() / ".leapfrog"


def test_parse_stack_places_the_file_in_base_dir(tmp_path: Path) -> None:
    stack = parse_stack("services: {}\n", "some/dir/stack.yaml", tmp_path)
    assert stack.path == tmp_path.resolve() / "stack.yaml"
    assert stack.base_dir == tmp_path.resolve()


@pytest.mark.parametrize(
    ("directory", "name"),
    [("My_Project", "my-project"), ("shop.api v2", "shop-api-v2"), ("2024", "stack")],
)
def test_name_defaults_to_the_sanitised_directory(
    tmp_path: Path, directory: str, name: str
) -> None:
    base = tmp_path / directory
    base.mkdir()
    assert parse_stack("services: {}\n", "leapfrog.yaml", base).name == name


def test_absolute_state_dir(parse: Parse, tmp_path: Path) -> None:
    stack = parse(f"local:\n  state_dir: {tmp_path / 'elsewhere'}\n")
    assert stack.state_dir == (tmp_path / "elsewhere").resolve()


def test_state_dir_that_is_no_path(problem: Callable[[str], Problem]) -> None:
    p = problem('local:\n  state_dir: "a\\0b"\n')
    assert (p.line, p.field) == (2, "local.state_dir")
    assert "control character U+0000" in p.message


def test_public_api() -> None:
    assert set(spec_package.__all__) >= {
        "load_stack",
        "parse_stack",
        "Stack",
        "SpecError",
        "Problem",
        "render",
        "json_schema",
        "StackSpec",
        "ServiceSpec",
        "CheckSpec",
        "RestartSpec",
        "DependsOn",
        "LocalSettings",
    }
    for name in spec_package.__all__:
        assert getattr(spec_package, name) is not None
