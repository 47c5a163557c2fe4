"""?filter expressions: the common bexpr forms, and clear errors for the rest."""

from __future__ import annotations

from typing import Any

import pytest

from leapfrog.catalog._body import BadRequest
from leapfrog.catalog._filter import compile_filter

ITEM: dict[str, Any] = {
    "Service": {
        "Service": "web",
        "Tags": ["primary", "v2"],
        "Meta": {"env": "prod", "team-name": "core"},
        "Port": 8080,
        "EnableTagOverride": False,
    },
    "Checks": [{"Status": "passing"}, {"Status": "warning"}],
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('Service.Meta.env == "prod"', True),
        ('Service.Meta.env != "prod"', False),
        ('Service.Meta["team-name"] == core', True),
        ('"primary" in Service.Tags', True),
        ('"canary" not in Service.Tags', True),
        ('Service.Tags contains "v2"', True),
        ('Service.Tags not contains "v2"', False),
        ('Service.Service matches "^w.b$"', True),
        ('Service.Service not matches "^db"', True),
        ("Service.Port == 8080", True),
        ("Service.EnableTagOverride == false", True),
        ("Service.Meta.missing is empty", True),
        ("Service.Tags is not empty", True),
        ('Service.Meta.env == "prod" and "v2" in Service.Tags', True),
        ('Service.Meta.env == "dev" or "v2" in Service.Tags', True),
        ('not (Service.Meta.env == "dev")', True),
        ('not Service.Meta.env == "prod" or Service.Port == 1', False),
        ('"warning" in Checks.Status', True),
        ("service.meta.env == `prod`", True),
    ],
)
def test_expressions(expression: str, expected: bool) -> None:
    predicate = compile_filter(expression)
    assert predicate is not None
    assert predicate(ITEM) is expected


def test_no_filter() -> None:
    assert compile_filter(None) is None
    assert compile_filter("  ") is None


@pytest.mark.parametrize(
    "expression",
    [
        "Service.Meta.env ==",
        "Service.Meta.env < 3",
        "(Service.Port == 1",
        "and",
        'Service.Service matches "("',
        '"x" Service.Tags',
        "Service.Port == 1 extra",
        "Service.Port ~ 1",
    ],
)
def test_unsupported_or_malformed_expressions_are_400(expression: str) -> None:
    with pytest.raises(BadRequest, match="Failed to create boolean expression evaluator"):
        compile_filter(expression)
