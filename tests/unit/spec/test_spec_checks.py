"""Checks across the stack: names, dependencies, cycles and components."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pydantic import BaseModel, ConfigDict, Field

from leapfrog.spec import Problem, Stack
from leapfrog.spec import loader as loader_module

Parse = Callable[[str], Stack]
One = Callable[[str], Problem]
Many = Callable[[str], list[Problem]]


class _Postgres(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = Field(16, ge=13, le=17)
    databases: list[str] = Field(default_factory=list)


@pytest.fixture
def with_postgres(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader_module, "known_components", lambda: {"postgres": _Postgres})


def test_service_name_gets_a_sanitised_suggestion(problem: One) -> None:
    p = problem("""\
        services:
          Web_API:
            command: x
        """)
    assert (p.line, p.column, p.field) == (2, 3, "services.Web_API")
    assert "`Web_API` is not a valid name" in p.message
    assert p.hint == "rename it to `web-api`"


def test_name_without_usable_letters(problem: One) -> None:
    p = problem("""\
        services:
          "123":
            command: x
        """)
    assert p.line == 2
    assert p.hint == "rename it, such as `web`"


def test_name_too_long(problem: One) -> None:
    name = "a" * 41
    p = problem(f"services:\n  {name}:\n    command: x\n")
    assert p.line == 2
    assert p.hint == f"rename it to `{'a' * 40}`"


def test_component_name_is_checked(problem: One, with_postgres: None) -> None:
    p = problem("""\
        components:
          Post_gres: {}
        """)
    assert (p.line, p.field) == (2, "components.Post_gres")
    assert "not a valid name" in p.message
    assert p.hint == "did you mean `postgres`?"  # its name is its kind; not also "unknown"


def test_component_name_without_a_close_kind(problem: One, with_postgres: None) -> None:
    p = problem("""\
        components:
          My_Queue: {}
        """)
    assert p.hint == "rename it to `my-queue`"


def test_name_both_service_and_component(problems: Many, with_postgres: None) -> None:
    found = problems("""\
        services:
          postgres:
            command: x
        components:
          postgres: {}
        """)
    (p,) = [p for p in found if "both" in p.message]
    assert (p.line, p.field) == (5, "components.postgres")
    assert p.message == "`postgres` is both a component and a service (line 2)"
    assert p.hint == "rename the service"


def test_unknown_dependency_in_a_list(problem: One) -> None:
    p = problem("""\
        services:
          db:
            command: x
          web:
            command: y
            depends_on: [dbb]
        """)
    assert (p.line, p.column, p.field) == (6, 18, "services.web.depends_on.dbb")
    assert p.message == "`dbb` is not a service or component of this stack"
    assert p.hint == "did you mean `db`?"


def test_unknown_dependency_in_a_mapping_lists_known_units(problem: One) -> None:
    p = problem("""\
        services:
          db:
            command: x
          web:
            command: y
            depends_on:
              queue: {condition: started}
        """)
    assert (p.line, p.field) == (7, "services.web.depends_on.queue")
    assert p.hint == "known services and components: catalog, db"


def test_unknown_dependency_when_alone(problem: One) -> None:
    p = problem("""\
        services:
          web:
            command: y
            depends_on: [db]
        """)
    assert p.hint == "known services and components: catalog"


def test_self_dependency(problem: One) -> None:
    p = problem("""\
        services:
          web:
            command: y
            depends_on:
              web:
        """)
    assert (p.line, p.field) == (5, "services.web.depends_on.web")
    assert p.message == "`web` depends on itself"


def test_two_service_cycle(problem: One) -> None:
    p = problem("""\
        services:
          a:
            command: x
            depends_on: [b]
          b:
            command: x
            depends_on: [a]
        """)
    assert (p.line, p.field) == (4, "services.a.depends_on.b")
    assert p.message == "dependency cycle: a -> b -> a"
    assert p.hint is not None and "never start" in p.hint


def test_longer_cycle_is_written_from_the_first_service_in_the_file(problem: One) -> None:
    p = problem("""\
        services:
          ok:
            command: x
          web:
            command: x
            depends_on:
              api: {condition: started}
          worker:
            command: x
            depends_on: [web, ok]
          api:
            command: x
            depends_on: [worker]
        """)
    assert (p.line, p.field) == (7, "services.web.depends_on.api")
    assert p.message == "dependency cycle: web -> api -> worker -> web"


def test_separate_cycles_are_each_reported(problems: Many) -> None:
    found = problems("""\
        services:
          a: {command: x, depends_on: [b]}
          b: {command: x, depends_on: [a]}
          c: {command: x, depends_on: [d]}
          d: {command: x, depends_on: [c]}
        """)
    assert [p.message for p in found] == [
        "dependency cycle: a -> b -> a",
        "dependency cycle: c -> d -> c",
    ]


def test_long_chain_is_no_recursion_problem(parse: Parse) -> None:
    lines = ["services:"]
    lines += [f"  s{i}: {{command: x, depends_on: [s{i + 1}]}}" for i in range(2000)]
    lines.append("  s2000: {command: x}")
    assert len(parse("\n".join(lines) + "\n").spec.services) == 2001


def test_unknown_component_names_the_known_ones(problem: One) -> None:
    p = problem("""\
        components:
          rabbitmq:
        """)
    assert (p.line, p.field) == (2, "components.rabbitmq")
    assert p.message == "unknown component `rabbitmq`"
    assert p.hint is not None and "kafka" in p.hint


def test_unknown_component_suggests_a_known_one(problem: One, with_postgres: None) -> None:
    p = problem("""\
        components:
          postgress: {}
        """)
    assert p.message == "unknown component `postgress`"
    assert p.hint == "did you mean `postgres`?"


def test_unknown_component_lists_known_ones(problem: One, with_postgres: None) -> None:
    p = problem("""\
        components:
          kafka: {}
        """)
    assert p.hint == "known components: postgres"


def test_known_component_options_are_validated(problems: Many, with_postgres: None) -> None:
    found = problems("""\
        components:
          postgres:
            version: 9
            databse: [app]
        """)
    assert [(p.line, p.field) for p in found] == [
        (3, "components.postgres.version"),
        (4, "components.postgres.databse"),
    ]
    assert found[0].message == "expected an integer from 13 to 17, found 9"
    assert found[1].hint == "did you mean `databases`?"


def test_known_component_without_options(parse: Parse, with_postgres: None) -> None:
    stack = parse("""\
        components:
          postgres:
        services:
          web:
            command: x
            depends_on: [postgres]
        """)
    assert stack.spec.components == {"postgres": {}}
    assert stack.spec.services["web"].depends_on["postgres"].condition == "healthy"


def test_component_options_not_a_mapping(problem: One, with_postgres: None) -> None:
    p = problem("""\
        components:
          postgres: [16]
        """)
    assert (p.line, p.field) == (2, "components.postgres")
    assert "expected a mapping" in p.message
