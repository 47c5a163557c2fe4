"""Model validation errors, retold with lines, what was expected, what was found, the fix."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from leapfrog.spec import Problem, Stack

One = Callable[[str], Problem]
Many = Callable[[str], list[Problem]]


def test_missing_command(problem: One) -> None:
    p = problem("""\
        services:
          web:
            replicas: 2
        """)
    assert (p.line, p.column, p.field) == (2, 3, "services.web.command")
    assert p.message == "`command` is required"
    assert p.hint == "add `command:` to service web"


def test_unknown_key_suggests_the_close_one(problem: One) -> None:
    p = problem("""\
        services:
          web:
            command: x
            replcas: 2
        """)
    assert (p.line, p.column, p.field) == (4, 5, "services.web.replcas")
    assert p.message == "unknown key `replcas`"
    assert p.hint == "did you mean `replicas`?"


def test_unknown_key_lists_known_ones_when_nothing_is_close(problem: One) -> None:
    p = problem("""\
        services:
          web:
            command: x
            check:
              http: /health
              flavour: strict
        """)
    assert (p.line, p.field) == (6, "services.web.check.flavour")
    assert p.hint is not None and p.hint.startswith("known keys: http, tcp, exec, interval")


def test_unknown_top_level_key_mentions_extension_keys(problem: One) -> None:
    p = problem("""\
        version: "3.8"
        services: {}
        """)
    assert (p.line, p.field) == (1, "version")
    assert p.hint is not None
    assert "name, services, components, catalog, local" in p.hint and "`x-`" in p.hint


def test_unknown_restart_policy(problem: One) -> None:
    p = problem("""\
        services:
          web:
            command: x
            restart: sometimes
        """)
    assert (p.line, p.column, p.field) == (4, 14, "services.web.restart.policy")
    assert p.message == "expected one of always, on-failure, no, found 'sometimes'"
    assert p.hint == "use one of: always, on-failure, no"


def test_unknown_stop_signal(problem: One) -> None:
    p = problem("""\
        services:
          web:
            command: x
            stop_signal: SIGKILL
        """)
    assert p.line == 4
    assert "expected one of SIGTERM, SIGINT" in p.message and "found 'SIGKILL'" in p.message


@pytest.mark.parametrize("written", ["restart: no", "restart: {policy: no}", "restart: 'no'"])
def test_restart_no_means_the_policy_despite_yaml(
    parse: Callable[[str], Stack], written: str
) -> None:
    stack = parse(f"services:\n  web:\n    command: x\n    {written}\n")
    assert stack.spec.services["web"].restart.policy == "no"


def test_bare_no_in_a_choice_says_what_yaml_did(problem: One) -> None:
    p = problem("""\
        services:
          web:
            command: x
          api:
            command: y
            depends_on:
              web: {condition: no}
        """)
    assert (p.line, p.field) == (7, "services.api.depends_on.web.condition")
    assert p.message == "expected one of started, healthy, found no (which YAML reads as false)"
    assert p.hint == "use one of: started, healthy"


def test_bare_yes_where_a_string_is_expected_suggests_quotes(problem: One) -> None:
    p = problem("""\
        services:
          web:
            command: x
            user: yes
        """)
    assert p.line == 4
    assert p.message == "expected a string, found yes (which YAML reads as true)"
    assert p.hint == "quote it: 'yes'"


def test_integer_expected_found_word(problem: One) -> None:
    p = problem("""\
        services:
          web:
            command: x
            replicas: two
        """)
    assert (p.line, p.column, p.field) == (4, 15, "services.web.replicas")
    assert p.message == "expected an integer from 0 to 250, found 'two'"


def test_integer_out_of_range(problem: One) -> None:
    p = problem("""\
        services:
          web:
            command: x
            replicas: 300
        """)
    assert p.line == 4
    assert p.message == "expected an integer from 0 to 250, found 300"


def test_port_zero(problem: One) -> None:
    p = problem("""\
        services:
          web:
            command: x
            port: 0
        """)
    assert p.line == 4
    assert p.message == "expected an integer from 1 to 65535, found 0"


def test_fraction_where_integer_expected(problem: One) -> None:
    p = problem("""\
        services:
          web:
            command: x
            check: {exec: "true", retries: 2.5}
        """)
    assert (p.line, p.field) == (4, "services.web.check.retries")
    assert p.message == "expected an integer from 1 to 100, found 2.5"


def test_quoted_number_keeps_its_quotes_in_the_message(problem: One) -> None:
    p = problem("""\
        services:
          web:
            command: x
            replicas: "two"
        """)
    assert p.message.endswith("found 'two'")


def test_boolean_expected(problem: One) -> None:
    p = problem("""\
        services:
          web:
            command: x
            port: 80
            check:
              tcp: maybe
        """)
    assert (p.line, p.field) == (6, "services.web.check.tcp")
    assert p.message == "expected true or false, found 'maybe'"


def test_number_where_string_expected_suggests_quotes(problem: One) -> None:
    p = problem("""\
        services:
          web:
            command: [sleep, 10]
        """)
    assert (p.line, p.column, p.field) == (3, 22, "services.web.command.1")
    assert p.message == "expected a string, found 10"
    assert p.hint == "quote it: '10'"


def test_empty_command(problem: One) -> None:
    p = problem("""\
        services:
          web:
            command:
        """)
    assert (p.line, p.field) == (3, "services.web.command")
    assert p.message == "expected a command as a string or a list of strings, found nothing"


def test_command_that_does_not_split(problem: One) -> None:
    p = problem("""\
        services:
          web:
            command: echo 'unclosed
        """)
    assert p.line == 3
    assert p.message.startswith("cannot split the command like a shell would")
    assert "Value error" not in p.message


def test_env_list_entry_without_equals(problem: One) -> None:
    p = problem("""\
        services:
          web:
            command: x
            env: [A=1, B]
        """)
    assert (p.line, p.field) == (4, "services.web.env")
    assert p.message == "expected NAME=value entries, found 'B'"


def test_env_bad_name(problem: One) -> None:
    p = problem("""\
        services:
          web:
            command: x
            env:
              1BAD: x
        """)
    assert p.line == 4
    assert p.message == "'1BAD' is not a valid environment variable name"


def test_env_of_wrong_shape(problem: One) -> None:
    p = problem("""\
        services:
          web:
            command: x
            env: DEBUG=1
        """)
    assert p.line == 4
    assert (
        p.message == "expected a mapping of NAME: value, or a list of NAME=value, found 'DEBUG=1'"
    )


def test_depends_on_of_wrong_shape(problem: One) -> None:
    p = problem("""\
        services:
          web:
            command: x
            depends_on: 3
        """)
    assert (p.line, p.field) == (4, "services.web.depends_on")
    assert p.message.startswith("expected a list of names, or a mapping")
    assert p.message.endswith("found 3")


def test_depends_on_entry_that_is_not_a_mapping(problem: One) -> None:
    p = problem("""\
        services:
          db:
            command: x
          web:
            command: x
            depends_on:
              db: healthy
        """)
    assert (p.line, p.field) == (7, "services.web.depends_on.db")
    assert p.message == "expected a mapping, found 'healthy'"
    assert p.hint is not None and "{condition: healthy}" in p.hint


def test_depends_on_list_of_mappings(problem: One) -> None:
    p = problem("""\
        services:
          db:
            command: x
          web:
            command: x
            depends_on:
              - db: {condition: started}
        """)
    assert (p.line, p.field) == (6, "services.web.depends_on")
    assert "expected a list of names" in p.message and "found a mapping" in p.message


def test_restart_of_wrong_shape(problem: One) -> None:
    p = problem("""\
        services:
          web:
            command: x
            restart: 3
        """)
    assert p.line == 4
    assert p.message == "expected a policy (always, on-failure, no) or a mapping, found 3"


def test_services_not_a_mapping(problem: One) -> None:
    p = problem("""\
        services:
          - web
        """)
    assert (p.line, p.field) == (1, "services")
    assert p.message == "expected a mapping of service names to their settings, found a list"


def test_service_not_a_mapping(problem: One) -> None:
    p = problem("""\
        services:
          web: python app.py
        """)
    assert (p.line, p.column, p.field) == (2, 8, "services.web")
    assert p.message == "expected a mapping, found 'python app.py'"
    assert p.hint is not None and "command:" in p.hint


def test_check_path_without_slash(problem: One) -> None:
    p = problem("""\
        services:
          web:
            command: x
            port: 80
            check: {http: health}
        """)
    assert (p.line, p.field) == (5, "services.web.check.http")
    assert p.message == "expected a path starting with '/', such as /health, found 'health'"


def test_check_with_two_kinds(problem: One) -> None:
    p = problem("""\
        services:
          web:
            command: x
            port: 80
            check:
              http: /health
              tcp: true
        """)
    assert (p.line, p.field) == (5, "services.web.check")
    assert p.message == "a check needs exactly one of http, tcp or exec (found http, tcp)"


def test_http_check_needs_port(problem: One) -> None:
    p = problem("""\
        services:
          web:
            command: x
            check: {http: /health}
        """)
    assert (p.line, p.field) == (2, "services.web")
    assert p.message == "a http check needs `port:` on the service"


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("soon", "expected a duration such as 500ms, 10s or 1m30s, found 'soon'"),
        ("-5", "a duration cannot be negative"),
        ("1" + "0" * 400, "expected a duration such as 500ms, 10s or 1m30s"),
        (".nan", "expected a finite duration such as 500ms, 10s or 1m30s"),
        ("2h", "expected at most 1h"),
    ],
)
def test_bad_durations(problem: One, written: str, expected: str) -> None:
    p = problem(f"services:\n  web:\n    command: x\n    stop_grace_period: {written}\n")
    assert (p.line, p.field) == (4, "services.web.stop_grace_period")
    assert p.message.startswith(expected)


def test_probe_interval_out_of_bounds(problem: One) -> None:
    p = problem("""\
        services:
          web:
            command: x
            check: {exec: "true", interval: 1ms}
        """)
    assert (p.line, p.field) == (4, "services.web.check.interval")
    assert p.message == "expected a duration between 10ms and 24h, found '1ms'"


def test_addresses_outside_loopback(problem: One) -> None:
    p = problem("""\
        local:
          addresses: 10.0.0.0/16
        services: {}
        """)
    assert (p.line, p.field) == (2, "local.addresses")
    assert "inside 127.0.0.0/8" in p.message


def test_bad_stack_name(problem: One) -> None:
    p = problem("""\
        name: My Stack
        services: {}
        """)
    assert (p.line, p.field) == (1, "name")
    assert "lower-case letters" in p.message


def test_all_problems_at_once_in_file_order(problems: Many) -> None:
    found = problems("""\
        services:
          web:
            command: x
            replicas: two
            replcas: 2
          api:
            port: http
        bogus: 1
        """)
    assert [(p.line, p.field) for p in found] == [
        (4, "services.web.replicas"),
        (5, "services.web.replcas"),
        (6, "services.api.command"),
        (7, "services.api.port"),
        (8, "bogus"),
    ]
