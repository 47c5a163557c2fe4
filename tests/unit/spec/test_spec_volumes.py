"""`volumes:` and a service's `volumes:` list: forms, defaults, and every bad declaration
reported with its line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from leapfrog.spec import Problem, Stack

Parse = Callable[[str], Stack]
One = Callable[[str], Problem]
Many = Callable[[str], list[Problem]]


def test_short_and_long_forms(parse: Parse) -> None:
    stack = parse("""\
        volumes:
          data:
          cache: {scope: shared, size: 1Gi}
          logs: {size: 512MiB, path: ./logs}
        services:
          web:
            command: x
            volumes:
              - data
              - cache:/var/cache/app/
              - {name: logs, mount: /logs}
        """)
    spec = stack.spec
    assert spec.volumes["data"].scope == "instance" and spec.volumes["data"].size is None
    assert spec.volumes["cache"].scope == "shared" and spec.volumes["cache"].size == 1024**3
    assert spec.volumes["logs"].size == 512 * 1024**2 and spec.volumes["logs"].path == "./logs"
    uses = spec.services["web"].volumes
    assert [(u.name, u.mount_path) for u in uses] == [
        ("data", "/volumes/data"),
        ("cache", "/var/cache/app"),
        ("logs", "/logs"),
    ]
    assert stack.line_of("services.web.volumes.1") == 10


def test_unknown_volume_is_named_with_its_line_and_a_suggestion(problem: One) -> None:
    p = problem("""\
        volumes:
          data: {}
        services:
          web:
            command: x
            volumes: [date]
        """)
    assert (p.line, p.field) == (6, "services.web.volumes.0")
    assert "`date` is not a volume of this stack" in p.message
    assert p.hint == "did you mean `data`?"


def test_unknown_volume_without_any_declared(problem: One) -> None:
    p = problem("""\
        services:
          web:
            command: x
            volumes:
              - data
        """)
    assert (p.line, p.column) == (5, 9)
    assert p.hint is not None and "declare it under the stack's `volumes:`" in p.hint


def test_a_volume_listed_twice(problem: One) -> None:
    p = problem("""\
        volumes: {data: }
        services:
          web:
            command: x
            volumes:
              - data
              - data:/elsewhere
        """)
    assert p.line == 7 and "listed twice (first on line 6)" in p.message


def test_duplicate_volume_names_in_the_declaration(problem: One) -> None:
    p = problem("""\
        volumes:
          data: {}
          data: {scope: shared}
        services:
          web: {command: x}
        """)
    assert p.line == 3 and "data" in p.message


def test_overlapping_mount_paths(problem: One) -> None:
    p = problem("""\
        volumes: {a: , b: }
        services:
          web:
            command: x
            volumes: ["a:/srv", "b:/srv/b"]
        """)
    assert (p.line, p.field) == (5, "services.web.volumes.1")
    assert "mount /srv/b overlaps /srv of volume `a`" in p.message


def test_overlapping_directories(problem: One, tmp_path: Path) -> None:
    p = problem("""\
        volumes:
          a: {path: ./store}
          b: {path: store/b}
        services:
          web: {command: x, volumes: [a, b]}
        """)
    assert (p.line, p.field) == (3, "volumes.b.path")
    assert f"{tmp_path}/store/b overlaps {tmp_path}/store" in p.message


def test_a_directory_on_the_state_dir_or_around_the_stack_file(problems: Many) -> None:
    found = problems("""\
        local: {state_dir: ../elsewhere}
        volumes:
          a: {path: ../elsewhere/volumes/x}
          b: {path: .}
        services:
          web: {command: x, volumes: [a, b]}
        """)
    assert [(p.line, p.field) for p in found] == [(3, "volumes.a.path"), (4, "volumes.b.path")]
    assert "overlaps the state directory" in found[0].message
    assert "holds the stack file" in found[1].message


def test_size_too_small_or_unreadable(problems: Many) -> None:
    found = problems("""\
        volumes:
          a: {size: 1MiB}
          b: {size: lots}
          c: {size: 0}
        services:
          web: {command: x, volumes: [a, b, c]}
        """)
    assert [(p.line, p.field) for p in found] == [
        (2, "volumes.a.size"),
        (3, "volumes.b.size"),
        (4, "volumes.c.size"),
    ]
    assert "at least 8MiB" in found[0].message
    assert "expected a size such as 10MiB" in found[1].message


def test_bad_mount_and_scope(problems: Many) -> None:
    found = problems("""\
        volumes:
          a: {scope: everywhere}
        services:
          web:
            command: x
            volumes: ["a:relative", "a:/"]
        """)
    fields = [p.field for p in found]
    assert fields == [
        "volumes.a.scope",
        "services.web.volumes.0.mount",
        "services.web.volumes.1.mount",
    ]
    assert "expected an absolute path" in found[1].message
    assert "cannot be mounted on /" in found[2].message


def test_a_volume_shared_by_services_of_different_users(problem: One) -> None:
    p = problem("""\
        volumes: {data: {scope: shared}}
        services:
          web: {command: x, volumes: [data]}
          api: {command: x, user: www-data, volumes: [data]}
        """)
    assert p.line == 4 and "belongs to one user" in p.message


def test_invalid_volume_name(problem: One) -> None:
    p = problem("""\
        volumes: {My_Data: {}}
        services:
          web: {command: x, volumes: [My_Data]}
        """)
    assert p.field == "volumes.My_Data" and "not a valid volume name" in p.message
