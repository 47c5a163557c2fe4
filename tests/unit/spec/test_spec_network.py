"""`callers:` of a service and the top-level `network:`."""

from __future__ import annotations

from collections.abc import Callable

from leapfrog.spec import Problem, Stack, callers_of

Parse = Callable[[str], Stack]
One = Callable[[str], Problem]


def test_a_caller_that_is_no_service_is_refused_with_the_services_named(problem: One) -> None:
    p = problem("""\
        services:
          api:
            command: x
            callers: [web, wbe]
          web:
            command: y
          worker:
            command: z
        """)
    assert (p.line, p.field) == (4, "services.api.callers.1")
    assert p.message == "`wbe` in the callers of `api` is not a service of this stack"
    assert p.hint == "did you mean `web`?"


def test_an_unlike_caller_gets_the_services_listed(problem: One) -> None:
    p = problem("""\
        services:
          api:
            command: x
            callers: [zzz]
          web:
            command: y
        """)
    assert p.message == "`zzz` in the callers of `api` is not a service of this stack"
    assert p.hint == "callers are services under `services:`: web"


def test_a_service_is_not_its_own_caller(problem: One) -> None:
    p = problem("""\
        services:
          api:
            command: x
            callers: [api]
        """)
    assert p.message == "`api` lists itself as a caller"


def test_callers_given_are_exactly_the_callers(parse: Parse) -> None:
    stack = parse("""\
        services:
          api: {command: x, port: 9000, callers: [worker]}
          web: {command: y, depends_on: [api]}
          worker: {command: z}
        """)
    assert callers_of(stack.spec.services, "api") == ["worker"]


def test_without_callers_dependents_and_allow_from_may_call(parse: Parse) -> None:
    stack = parse("""\
        services:
          api: {command: x, port: 9000, allow_from: [worker]}
          web: {command: y, depends_on: [api]}
          worker: {command: z}
        """)
    assert callers_of(stack.spec.services, "api") == ["web", "worker"]
    assert callers_of(stack.spec.services, "web") == []


def test_network_defaults_to_loopback(parse: Parse) -> None:
    spec = parse("services: {web: {command: x}}\n").spec
    assert (spec.network.isolation, spec.network.subnet) == ("loopback", None)


def test_a_loopback_or_tiny_subnet_is_refused(problems: Callable[[str], list[Problem]]) -> None:
    for subnet in ("127.5.0.0/24", "10.1.2.0/28", "10.1.2.3/24", "nonsense"):
        found = problems(f"network: {{isolation: namespaces, subnet: {subnet}}}\n")
        assert len(found) == 1 and found[0].field == "network.subnet", subnet
