"""The YAML layer: syntax, duplicates, document shape, anchors, and reading the file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import pytest

from leapfrog.spec import Problem, SpecError, Stack, load_stack, parse_stack

Parse = Callable[[str], Stack]
One = Callable[[str], Problem]
Many = Callable[[str], list[Problem]]


def test_syntax_error_has_yaml_line_and_column(problem: One) -> None:
    p = problem("""\
        services:
          web:
            command: x
           port: 80
        """)
    assert (p.line, p.field) == (4, "(stack)")
    assert p.column is not None
    assert "invalid YAML" in p.message
    assert p.hint


def test_mapping_value_in_plain_scalar_explains_indentation_or_quoting(problem: One) -> None:
    p = problem("""\
        services:
          web:
            command: echo a: b
        """)
    assert p.line == 3
    assert "mapping values are not allowed" in p.message
    assert p.hint is not None and "quote" in p.hint


def test_unclosed_quote_points_at_where_it_opened(problem: One) -> None:
    p = problem("""\
        services:
          web:
            command: "python -m app
        """)
    assert (p.line, p.column) == (3, 14)
    assert "end of stream" in p.message
    assert p.hint is not None and "close the quote" in p.hint


def test_unclosed_bracket(problem: One) -> None:
    p = problem("""\
        services:
          web:
            command: [python, app
        """)
    assert p.line == 4
    assert "','" in p.message
    assert p.hint is not None and "bracket" in p.hint


def test_tab_indentation_hints_spaces(problem: One) -> None:
    p = problem("services:\n\tweb:\n\t\tcommand: x\n")
    assert p.line == 2
    assert p.hint is not None and "spaces" in p.hint


def test_duplicate_key_names_both_lines(problem: One) -> None:
    p = problem("""\
        services:
          web:
            command: x
            replicas: 1
            replicas: 2
        """)
    assert (p.line, p.column) == (5, 5)
    assert p.field == "services.web.replicas"
    assert "duplicate key `replicas`" in p.message
    assert "line 4" in p.message


def test_duplicate_top_level_key(problem: One) -> None:
    p = problem("""\
        services: {}
        name: a
        services: {}
        """)
    assert (p.line, p.field) == (3, "services")
    assert "line 1" in p.message


def test_all_duplicates_are_reported(problems: Many) -> None:
    found = problems("""\
        a: 1
        a: 2
        b: 1
        b: 2
        """)
    assert [p.line for p in found] == [2, 4]


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "~\n", "null\n", "---\n"])
def test_empty_file(problem: One, text: str) -> None:
    p = problem(text)
    assert p.line is None
    assert p.field == "(stack)"
    assert "empty" in p.message
    assert p.hint is not None and "services:" in p.hint


def test_top_level_list(problem: One) -> None:
    p = problem("""\
        # services
        - web
        - db
        """)
    assert p.line == 2
    assert "expected a mapping" in p.message and "found a list" in p.message
    assert p.hint is not None and "services:" in p.hint


def test_top_level_scalar(problem: One) -> None:
    p = problem("hello\n")
    assert p.line == 1
    assert "found 'hello'" in p.message


def test_two_documents(problem: One) -> None:
    p = problem("""\
        services: {}
        ---
        services: {}
        """)
    assert p.line == 2
    assert "single document" in p.message
    assert p.hint is not None and "---" in p.hint


def test_undefined_alias(problem: One) -> None:
    p = problem("""\
        services:
          web: *base
        """)
    assert p.line == 2
    assert "undefined alias" in p.message
    assert p.hint is not None and "anchor" in p.hint


def test_alias_inside_itself(problem: One) -> None:
    p = problem("""\
        x-loop: &loop
          - *loop
        services: {}
        """)
    assert p.line == 1  # the composed alias is the anchored node itself: its line is known
    assert "alias of itself" in p.message


def test_alias_bomb_is_refused(problem: One) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 8)]
    p = problem("\n".join(lines) + "\n")
    assert p.line is None
    assert "aliases" in p.message


def test_too_deep_nesting(problem: One) -> None:
    p = problem("x-deep: " + "[" * 150 + "]" * 150 + "\n")
    assert p.line == 1
    assert "nested more than" in p.message


def test_unsupported_tag(problem: One) -> None:
    p = problem("""\
        services:
          web:
            command: !env CMD
        """)
    assert (p.line, p.field) == (3, "services.web.command")
    assert "unsupported YAML tag `!env`" in p.message


def test_unsupported_collection_tag(problem: One) -> None:
    p = problem("""\
        services: !!set
          ? web
        """)
    assert p.line == 1
    assert "unsupported YAML tag" in p.message


def test_key_that_is_a_list(problem: One) -> None:
    p = problem("""\
        services:
          [web, db]: {command: x}
        """)
    assert (p.line, p.field) == (2, "services")
    assert "expected a name as key, found a list" in p.message


def test_control_character(problem: One) -> None:
    p = problem("services:\n  web:\n    command: a\x07b\n")
    assert p.line == 3
    assert "U+0007" in p.message


def test_merge_of_a_list_of_scalars_is_refused(problems: Many) -> None:
    found = problems("""\
        services:
          web:
            <<: [a, b]
            command: x
        """)
    assert [(p.line, p.column) for p in found] == [(3, 10), (3, 13)]
    assert all("`<<` merges mappings" in p.message for p in found)


def test_anchors_aliases_merges_and_extension_keys(parse: Parse) -> None:
    stack = parse("""\
        x-service: &defaults
          replicas: 2
          restart: always
          env: {MODE: dev}
        x-anything: [1, 2, {deep: true}]
        services:
          web:
            <<: *defaults
            command: serve
            replicas: 3
          worker:
            <<: [*defaults]
            command: work
        """)
    web, worker = stack.spec.services["web"], stack.spec.services["worker"]
    assert (web.replicas, web.restart.policy, web.env) == (3, "always", {"MODE": "dev"})
    assert worker.replicas == 2
    assert stack.lines["services.web.replicas"] == 10  # written here, not merged
    assert stack.lines["services.worker.replicas"] == 2  # merged: where its text is
    assert not any(key.startswith("x-") for key in stack.lines)


def test_errors_in_merged_values_point_at_the_anchor(problem: One) -> None:
    p = problem("""\
        x-defaults: &defaults
          replicas: many
        services:
          web:
            <<: *defaults
            command: x
        """)
    assert (p.line, p.field) == (2, "services.web.replicas")


def test_strange_numbers_stay_text(parse: Parse) -> None:
    stack = parse("""\
        services:
          web:
            command: [run, 0b_, "2020-13-45", =]
        """)
    assert stack.spec.services["web"].command == ["run", "0b_", "2020-13-45", "="]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        load_stack(tmp_path / "leapfrog.yaml")
    (p,) = info.value.problems
    assert p.file == str(tmp_path / "leapfrog.yaml")
    assert p.line is None
    assert "no stack file" in p.message
    assert p.hint == "create it, or pass -f FILE"


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        load_stack(tmp_path)
    (p,) = info.value.problems
    assert "is a directory" in p.message
    assert p.hint is not None and "leapfrog.yaml" in p.hint


def test_unreadable_file_without_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def deny(self: Path, *args: object, **kwargs: object) -> NoReturn:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "open", deny)
    with pytest.raises(SpecError) as info:
        load_stack(tmp_path / "leapfrog.yaml")
    (p,) = info.value.problems
    assert "permission denied" in p.message
    assert p.hint is not None and "permissions" in p.hint


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "leapfrog.yaml"
    path.write_bytes(b"services:\n  web:\n    command: caf\xe9\n")
    with pytest.raises(SpecError) as info:
        load_stack(path)
    (p,) = info.value.problems
    assert (p.line, p.column) == (3, 17)
    assert "not UTF-8" in p.message and "0xe9" in p.message
    assert p.hint == "save the file as UTF-8"
    assert info.value.source is not None and "caf" in info.value.source


def test_byte_order_mark_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "leapfrog.yaml"
    path.write_bytes(b"\xef\xbb\xbfservices:\n  web: {command: x}\n")
    assert load_stack(path).spec.services["web"].command == ["x"]


def test_problem_file_is_the_name_given(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        parse_stack("a: [", "conf/stack.yaml", tmp_path)
    assert info.value.problems[0].file == "conf/stack.yaml"
    assert info.value.source == "a: ["
