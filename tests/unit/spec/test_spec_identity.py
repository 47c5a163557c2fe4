"""`identity:`: service identity turned on by the stack file, refused with its line."""

from __future__ import annotations

from collections.abc import Callable

from leapfrog.spec import Problem, Stack, json_schema

Parse = Callable[[str], Stack]
One = Callable[[str], Problem]


def test_absent_identity_is_off(parse: Parse) -> None:
    stack = parse("services: {api: {command: x}}\n")
    assert stack.spec.identity is None
    assert not stack.spec.identity_on


def test_identity_section_turns_it_on_with_default_deny(parse: Parse) -> None:
    stack = parse("""\
        identity: {}
        services: {api: {command: x}}
        """)
    assert stack.spec.identity_on
    assert stack.spec.identity is not None and stack.spec.identity.default == "deny"


def test_identity_true_and_false_are_short_forms(parse: Parse) -> None:
    on = parse("identity: true\nservices: {}\n")
    off = parse("identity: false\nservices: {}\n")
    assert on.spec.identity_on and on.spec.identity is not None
    assert on.spec.identity.default == "deny"
    assert not off.spec.identity_on


def test_mtls_false_is_off_and_default_allow_is_kept(parse: Parse) -> None:
    stack = parse("""\
        identity: {mtls: false, default: allow}
        services: {}
        """)
    assert not stack.spec.identity_on
    assert stack.spec.identity is not None and stack.spec.identity.default == "allow"


def test_an_unknown_default_is_refused_at_its_line(problem: One) -> None:
    p = problem("""\
        services: {api: {command: x}}
        identity:
          mtls: true
          default: maybe
        """)
    assert (p.line, p.field) == (4, "identity.default")
    assert "allow, deny" in p.message


def test_an_unknown_key_is_refused(problem: One) -> None:
    p = problem("""\
        identity:
          mlts: true
        services: {}
        """)
    assert (p.line, p.field) == (2, "identity.mlts")


def test_identity_without_the_catalog_is_refused_with_a_way_out(problem: One) -> None:
    p = problem("""\
        catalog:
          enabled: false
        identity:
          default: deny
        services: {}
        """)
    assert (p.line, p.field) == (3, "identity")
    assert "needs the catalog" in p.message
    assert p.hint is not None and "catalog" in p.hint


def test_the_schema_takes_the_short_form() -> None:
    shape = json_schema()["properties"]["identity"]["anyOf"]
    assert {"type": "boolean"} in shape
    assert {"$ref": "#/$defs/IdentitySpec"} in shape
