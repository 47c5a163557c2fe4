"""The JSON Schema of `leapfrog.yaml`, for editors' completion and inline checks.

Pydantic describes what the models hold after validation; people write the shorthand
forms the validators accept (`restart: always`, `depends_on: [db]`, `interval: 10s`),
so those are added here, or editors would underline valid files.
"""

from __future__ import annotations

from typing import Any, get_args

from pydantic import BaseModel

from leapfrog.components import known_components
from leapfrog.spec.models import (
    NAME_PATTERN,
    CheckSpec,
    DependsOn,
    Duration,
    LocalSettings,
    RestartSpec,
    ServiceSpec,
    StackSpec,
)

__all__ = ["SCHEMA_ID", "json_schema"]

SCHEMA_ID = "https://leapfrog.dev/schema/stack.json"
_DRAFT = "https://json-schema.org/draft/2020-12/schema"
_DURATION_PATTERN = r"^\s*\d+(\.\d+)?\s*$|^\s*(\d+(\.\d+)?\s*(ms|s|m|h)\s*)+$"
_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
_COMMAND = [
    {"type": "string", "minLength": 1},
    {"type": "array", "items": {"type": "string"}, "minItems": 1},
]
_BARE_FIELDS = ("type", "items", "anyOf", "additionalProperties", "$ref")


def json_schema() -> dict[str, Any]:
    """A fresh JSON Schema (draft 2020-12) of the stack file."""
    schema = StackSpec.model_json_schema(mode="validation")
    defs: dict[str, Any] = schema["$defs"]
    models: list[type[BaseModel]] = [ServiceSpec, CheckSpec, RestartSpec, DependsOn, LocalSettings]
    for model in models:
        _durations(model, defs[model.__name__]["properties"])
    _durations(StackSpec, schema["properties"])

    service = defs["ServiceSpec"]["properties"]
    _reshape(service["command"], anyOf=_COMMAND)
    _reshape(
        service["env"],
        anyOf=[
            {
                "type": "object",
                "propertyNames": {"pattern": _ENV_NAME},
                "additionalProperties": {"type": ["string", "number", "boolean", "null"]},
            },
            {"type": "array", "items": {"type": "string", "pattern": _ENV_NAME[:-1] + "="}},
        ],
    )
    name = {"type": "string", "pattern": NAME_PATTERN}
    _reshape(
        service["depends_on"],
        anyOf=[
            {"type": "array", "items": name, "uniqueItems": True},
            {
                "type": "object",
                "propertyNames": {"pattern": NAME_PATTERN},
                "additionalProperties": {
                    "anyOf": [{"$ref": "#/$defs/DependsOn"}, {"type": "null"}]
                },
            },
        ],
    )
    policies = list(get_args(RestartSpec.model_fields["policy"].annotation))
    # YAML 1.1 reads a bare `no` as false; the model accepts that as the policy `no`.
    _reshape(
        service["restart"], anyOf=[{"$ref": "#/$defs/RestartSpec"}, {"enum": [*policies, False]}]
    )
    _reshape(defs["RestartSpec"]["properties"]["policy"], enum=[*policies, False])
    # `route: /hello` is short for `route: {path: /hello}`.
    _reshape(
        service["route"],
        anyOf=[
            {"$ref": "#/$defs/RouteSpec"},
            {"type": "string", "pattern": "^/"},
            {"type": "null"},
        ],
    )
    # `- data` and `- data:/var/lib/app` are short for `- {name: data, mount: ...}`.
    service["volumes"]["items"] = {
        "anyOf": [
            {"$ref": "#/$defs/VolumeUse"},
            {"type": "string", "pattern": "^[a-z][a-z0-9-]{0,39}(:/.*)?$"},
        ]
    }
    condition = defs["DependsOn"]["properties"]["condition"]
    condition["enum"] = [*condition["enum"], "service_healthy", "service_started"]
    _reshape(defs["CheckSpec"]["properties"]["exec"], anyOf=[*_COMMAND, {"type": "null"}])

    top = schema["properties"]
    _reshape(top["name"], anyOf=[name, {"type": "null"}])
    top["services"]["propertyNames"] = {"pattern": NAME_PATTERN}
    top["volumes"]["propertyNames"] = {"pattern": NAME_PATTERN}
    top["volumes"]["additionalProperties"] = {
        "anyOf": [{"$ref": "#/$defs/VolumeSpec"}, {"type": "null"}]
    }
    # `identity: true` is short for `identity: {mtls: true}`.
    _reshape(
        top["identity"],
        anyOf=[{"$ref": "#/$defs/IdentitySpec"}, {"type": "boolean"}, {"type": "null"}],
    )
    top["components"] = _components(defs, top["components"]["description"])
    schema["patternProperties"] = {"^x-": {}}
    schema.pop("title", None)
    return {"$schema": _DRAFT, "$id": SCHEMA_ID, "title": "leapfrog stack file", **schema}


def _components(defs: dict[str, Any], description: str) -> dict[str, Any]:
    """`components:` maps each known kind to its options model (or nothing: defaults)."""
    props: dict[str, Any] = {}
    for kind, model in sorted(known_components().items()):
        sub = model.model_json_schema(mode="validation", ref_template="#/$defs/{model}")
        defs.update(sub.pop("$defs", {}))
        sub.pop("title", None)
        defs[model.__name__] = sub
        props[kind] = {"anyOf": [{"$ref": f"#/$defs/{model.__name__}"}, {"type": "null"}]}
    return {
        "type": "object",
        "description": description,
        "properties": props,
        "additionalProperties": False,
    }


def _reshape(prop: dict[str, Any], **shape: Any) -> None:
    """Replace what a property accepts, keeping its description, default and examples."""
    for key in _BARE_FIELDS:
        prop.pop(key, None)
    prop.update(shape)


def _durations(model: type[BaseModel], props: dict[str, Any]) -> None:
    marker = get_args(Duration)[1]
    for field_name, field in model.model_fields.items():
        if marker in field.metadata:
            _reshape(
                props[field_name],
                anyOf=[
                    {"type": "string", "pattern": _DURATION_PATTERN},
                    {"type": "number", "minimum": 0},
                ],
            )
