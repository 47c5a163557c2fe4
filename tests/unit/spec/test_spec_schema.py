"""The JSON Schema accepts what the loader accepts, in every shorthand form."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from leapfrog.spec import json_schema


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _service(**fields: Any) -> dict[str, Any]:
    return {"services": {"web": {"command": "serve", **fields}}}


def _errors(validator: jsonschema.Draft202012Validator, data: Any) -> list[str]:
    return [e.message for e in validator.iter_errors(data)]


def test_header() -> None:
    schema = json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == "https://leapfrog.dev/schema/stack.json"
    assert schema["title"] == "leapfrog stack file"
    assert list(schema)[:3] == ["$schema", "$id", "title"]


def test_each_call_is_a_fresh_copy() -> None:
    json_schema()["properties"].clear()
    assert "services" in json_schema()["properties"]


def test_full_example_validates(validator: jsonschema.Draft202012Validator) -> None:
    data = yaml.safe_load((Path(__file__).parent / "full_stack.yaml").read_text())
    assert _errors(validator, data) == []


@pytest.mark.parametrize(
    "fields",
    [
        {"command": "python -m app"},
        {"command": ["python", "-m", "app"]},
        {"restart": "always"},
        {"restart": False},  # a bare `no`, as YAML 1.1 reads it
        {"restart": {"policy": "on-failure", "backoff": "1s"}},
        {"restart": {"policy": False}},
        {"depends_on": ["db", "cache"]},
        {"depends_on": {"db": {"condition": "started"}, "cache": None}},
        {"depends_on": {"db": {"condition": "service_healthy"}}},
        {"env": {"A": "x", "B": 2, "C": True, "D": None, "E": 1.5}},
        {"env": ["A=1", "B="]},
        {"stop_grace_period": "1m30s"},
        {"stop_grace_period": 10},
        {"stop_grace_period": 0.5},
        {"stop_grace_period": "500ms"},
        {"check": {"exec": "test -f x"}},
        {"check": {"exec": ["test", "-f", "x"], "interval": "2s", "timeout": 1}},
        {"port": 80, "check": {"http": "/health", "start_timeout": "2m"}},
    ],
)
def test_shorthand_forms_validate(validator: jsonschema.Draft202012Validator, fields: Any) -> None:
    assert _errors(validator, _service(**fields)) == []


@pytest.mark.parametrize(
    "fields",
    [
        {"command": 3},
        {"command": []},
        {"replcas": 2},
        {"replicas": 300},
        {"restart": "sometimes"},
        {"restart": True},
        {"depends_on": "db"},
        {"depends_on": {"db": {"condition": "ready"}}},
        {"env": "A=1"},
        {"env": ["A"]},
        {"env": {"1A": "x"}},
        {"stop_grace_period": "soon"},
        {"stop_grace_period": -1},
        {"stop_signal": "SIGKILL"},
    ],
)
def test_wrong_values_are_flagged(validator: jsonschema.Draft202012Validator, fields: Any) -> None:
    assert _errors(validator, _service(**fields)) != []


def test_extension_keys_allowed_at_the_top_only(validator: jsonschema.Draft202012Validator) -> None:
    assert _errors(validator, {"x-defaults": {"anything": [1]}, "services": {}}) == []
    assert _errors(validator, {"version": "3"}) != []
    assert _errors(validator, _service(**{"x-note": 1})) != []


def test_names_are_checked(validator: jsonschema.Draft202012Validator) -> None:
    assert _errors(validator, {"services": {"Web_App": {"command": "x"}}}) != []
    assert _errors(validator, {"name": "My Stack"}) != []
    assert _errors(validator, {"name": "shop"}) == []


def test_components_with_and_without_options(validator: jsonschema.Draft202012Validator) -> None:
    topics = {"topics": {"orders": {"partitions": 6, "retention": "7d"}}}
    assert _errors(validator, {"components": {"postgres": None, "kafka": topics}}) == []
    assert _errors(validator, {"components": {"postgres": [1]}}) != []
    assert _errors(validator, {"components": {"kafka": {"x": 1}}}) != []
    assert _errors(validator, {"components": {"rabbitmq": {}}}) != []


def test_descriptions_survive_reshaping() -> None:
    service = json_schema()["$defs"]["ServiceSpec"]["properties"]
    for name in ("command", "env", "depends_on", "restart", "stop_grace_period"):
        assert service[name]["description"], name
    assert service["stop_grace_period"]["examples"] == ["500ms", "10s", "1m30s"]
