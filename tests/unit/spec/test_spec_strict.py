"""Values that used to be accepted but meant something else: each is now a located problem."""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import pytest
from pydantic import BaseModel, ValidationError

from leapfrog.components import known_components
from leapfrog.spec import Problem, Stack, StackSpec

One = Callable[[str], Problem]
Many = Callable[[str], list[Problem]]
Parse = Callable[[str], Stack]


def _models(root: type[BaseModel], seen: set[type[BaseModel]]) -> Iterator[type[BaseModel]]:
    if root in seen:
        return
    seen.add(root)
    yield root
    for field in root.model_fields.values():
        for inner in _types(field.annotation):
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                yield from _models(inner, seen)


def _types(annotation: Any) -> Iterator[Any]:
    yield annotation
    for arg in get_args(annotation):
        yield from _types(arg)


def _every_model() -> list[type[BaseModel]]:
    seen: set[type[BaseModel]] = set()
    found = list(_models(StackSpec, seen))
    for model in known_components().values():
        found += _models(model, seen)
    return found


def _numbers(annotation: Any) -> Any:
    """A value holding a boolean where the annotation wants a number, or None when the
    annotation takes no numbers (or takes booleans too)."""
    if annotation in (int, float):
        return True
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (Union, types.UnionType):
        if bool in args:
            return None
        found = [v for v in map(_numbers, args) if v is not None]
        return found[0] if found else None
    if origin is dict and _numbers(args[1]) is not None:
        return {"key": _numbers(args[1])}
    if origin in (list, tuple) and args and _numbers(args[0]) is not None:
        return [_numbers(args[0])]
    return None


_NUMBER_FIELDS = [
    pytest.param(model, name, value, id=f"{model.__name__}.{name}")
    for model in _every_model()
    for name, field in model.model_fields.items()
    if (value := _numbers(field.annotation)) is not None
]


def test_the_walk_finds_the_numbers_of_components_too() -> None:
    ids = {p.id for p in _NUMBER_FIELDS}
    assert {"ServiceSpec.port", "ServiceSpec.replicas", "CheckSpec.interval"} <= ids
    assert {"KafkaOptions.port", "TopicOptions.partitions", "PostgresOptions.port"} <= ids
    assert {"LoadBalancerOptions.slots", "ZooKeeperOptions.tick_time"} <= ids


@pytest.mark.parametrize(("model", "name", "value"), _NUMBER_FIELDS)
def test_a_boolean_is_no_number(model: type[BaseModel], name: str, value: Any) -> None:
    with pytest.raises(ValidationError) as info:
        model.model_validate({name: value})
    assert any(e["loc"][:1] == (name,) for e in info.value.errors()), info.value


@pytest.mark.parametrize(
    ("text", "line", "field", "message"),
    [
        ("    port: true\n", 4, "services.web.port", "from 1 to 65535, found true"),
        ("    replicas: yes\n", 4, "services.web.replicas", "found yes (which YAML reads as true)"),
        ("    port: '8080'\n", 4, "services.web.port", "expected an integer from 1 to 65535"),
        ("    check: {exec: x, retries: true}\n", 4, "services.web.check.retries", "integer"),
        ("    stop_grace_period: true\n", 4, "services.web.stop_grace_period", "duration"),
    ],
)  # fmt: skip
def test_booleans_in_number_fields_are_located(
    problem: One, text: str, line: int, field: str, message: str
) -> None:
    p = problem(f"services:\n  web:\n    command: x\n{text}")
    assert (p.line, p.field) == (line, field)
    assert message in p.message


def test_a_boolean_in_a_component_number_is_located(problem: One) -> None:
    p = problem("services:\n  web: {command: x}\ncomponents:\n  kafka:\n    port: true\n")
    assert (p.line, p.field) == (5, "components.kafka.port")
    assert "expected an integer from 1 to 65535, found true" in p.message


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ('command: "run\\0 --now"', "services.web.command"),
        ('command: [run, "a\\0b"]', "services.web.command.1"),
        ('env: {A: "x\\0y"}', "services.web.env.A"),
        ('env: ["A=x\\0y"]', "services.web.env.0"),
        ('check: {exec: "probe\\0"}', "services.web.check.exec"),
        ('user: "www\\ndata"', "services.web.user"),
        ('working_dir: "a\\tb"', "services.web.working_dir"),
        ('version: "1.0\\r"', "services.web.version"),
        ('route: "/a\\nbackend evil"', "services.web.route"),
        ('image: "app\\x1b:1"', "services.web.image"),
    ],
)
def test_control_characters_where_they_cannot_work(problem: One, value: str, field: str) -> None:
    command = "" if value.startswith("command") else "    command: x\n"
    p = problem(f"services:\n  web:\n{command}    {value}\n")
    assert p.field == field and p.line is not None
    assert "control character" in p.message and p.hint


def test_control_characters_in_component_options_and_keys(problems: Many) -> None:
    found = problems(
        "services:\n  web: {command: x}\ncomponents:\n  postgres:\n"
        '    databases: {"app\\n": {}}\n    parameters: {work_mem: "4MB\\nfsync = off"}\n'
    )
    assert [(p.line, p.field) for p in found] == [
        (5, "components.postgres.databases.app\n"),
        (6, "components.postgres.parameters.work_mem"),
    ]


def test_where_a_program_reads_it_any_character_but_nul_works(parse: Parse) -> None:
    stack = parse(
        'services:\n  web:\n    command: [python, -c, "print(1)\\nprint(2)"]\n'
        '    env: {PS1: "\\e[1m$ ", LINES: "a\\nb"}\n'
        "    check:\n      exec: \"sh -c 'test -e x\\n'\"\n"
        'x-notes: "anything\\0 goes here"\n'
    )
    web = stack.spec.services["web"]
    assert web.command[2] == "print(1)\nprint(2)" and web.env["PS1"] == "\x1b[1m$ "


@pytest.mark.parametrize(
    ("text", "line", "field"),
    [
        ("catalog:\n  dns: 127.0.0.1:8500\n", 5, "catalog.dns"),
        ("catalog:\n  http: 127.0.0.1:8600\n", 5, "catalog.http"),  # dns: the default
        ("components:\n  lb: {listen: '127.0.0.1:8500'}\n", 5, "components.lb.listen"),
        ("components:\n  lb: {stats: 'localhost:8080'}\n", 5, "components.lb.stats"),
    ],
)
def test_two_listeners_on_one_address_and_port(
    problem: One, text: str, line: int, field: str
) -> None:
    p = problem(f"services:\n  web:\n    command: x\n{text}")
    assert (p.line, p.field) == (line, field)
    assert "is also" in p.message and p.hint


def test_the_same_port_on_other_addresses_or_without_the_catalog(parse: Parse) -> None:
    parse(
        "services: {web: {command: x}}\ncatalog: {http: '127.0.0.1:8500', dns: '127.0.0.2:8500'}\n"
    )
    parse("services: {web: {command: x}}\ncatalog: {enabled: false, http: '127.0.0.1:8600'}\n")


def test_lb_ports_are_ports(problem: One) -> None:
    p = problem("services: {web: {command: x}}\ncomponents:\n  lb: {listen: '127.0.0.1:99999'}\n")
    assert (p.line, p.field) == (3, "components.lb.listen") and "65535" in p.message


def test_a_working_dir_that_does_not_exist(problem: One, parse: Parse, tmp_path: Path) -> None:
    p = problem("services:\n  web:\n    command: x\n    working_dir: nowhere\n")
    assert (p.line, p.column, p.field) == (4, 18, "services.web.working_dir")
    assert str(tmp_path / "nowhere") in p.message and p.hint
    (tmp_path / "file").write_text("")
    p = problem("services:\n  web:\n    command: x\n    working_dir: file\n")
    assert "not a directory" in p.message
    (tmp_path / "there").mkdir()
    assert parse("services:\n  web: {command: x, working_dir: there}\n").spec.services


@pytest.mark.parametrize("state_dir", ["/dev/null/state", "/dev/null", "stack-file/state"])
def test_a_state_dir_that_cannot_be_a_directory(
    problem: One, tmp_path: Path, state_dir: str
) -> None:
    (tmp_path / "stack-file").write_text("")
    p = problem(f"services: {{web: {{command: x}}}}\nlocal:\n  state_dir: {state_dir}\n")
    assert (p.line, p.field) == (3, "local.state_dir")
    assert "is not a directory" in p.message and p.hint


def test_a_state_dir_yet_to_be_made_is_fine(parse: Parse, tmp_path: Path) -> None:
    stack = parse("services: {web: {command: x}}\nlocal: {state_dir: a/b/c}\n")
    assert stack.state_dir == tmp_path / "a" / "b" / "c"


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("catalog: {http: '127.0.0.1:８５００'}\n", "catalog.http"),
        ("components:\n  lb: {listen: '127.0.0.1:８０８０'}\n", "components.lb.listen"),
        ("components:\n  zookeeper: {heap: '２５６m'}\n", "components.zookeeper.heap"),
        ("components:\n  kafka: {heap: '１g'}\n", "components.kafka.heap"),
    ],
)
def test_digits_are_ascii_digits(problem: One, text: str, field: str) -> None:
    # int() and `\d` take any script's digits; the programs these reach do not.
    p = problem(f"services: {{web: {{command: x}}}}\n{text}")
    assert p.field == field and p.line is not None


def test_no_pattern_takes_other_scripts_digits() -> None:
    patterns = [
        (model.__name__, name, meta.pattern)
        for model in _every_model()
        for name, field in model.model_fields.items()
        for meta in field.metadata
        if getattr(meta, "pattern", None)
    ]
    assert patterns, "the walk found no pattern at all"
    assert [p for p in patterns if "\\d" in str(p[2])] == []


@pytest.mark.parametrize("number", [".nan", ".inf", "-.inf", "1.0e+999"])
def test_no_number_is_infinite_or_nan(problem: One, number: str) -> None:
    p = problem(
        "services: {web: {command: x}}\n"
        f"components:\n  postgres:\n    parameters: {{work_mem: {number}}}\n"
    )
    assert (p.line, p.field) == (4, "components.postgres.parameters.work_mem")


def test_a_value_that_fits_no_member_of_a_union_is_one_problem(problem: One) -> None:
    p = problem(
        "services: {web: {command: x}}\ncomponents:\n  postgres:\n    parameters: {a: [1]}\n"
    )
    assert (p.line, p.field) == (4, "components.postgres.parameters.a")
    assert p.message == "expected a string, an integer, a number or true or false"
