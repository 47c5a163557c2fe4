"""Pydantic's validation errors, retold in the words of the stack file.

Pydantic speaks of "dictionaries" and "valid integers" and knows nothing of lines; the
person reading the error wrote YAML, so each error becomes what was expected, what was
found (as they wrote it) and the fix.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Union, get_args, get_origin

from annotated_types import Ge, Gt, Le, Lt
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from leapfrog.spec._yamlnodes import Locator, Path
from leapfrog.spec.errors import Problem

__all__ = ["MAX_HINTED", "close_match_hint", "describe", "translate"]

MAX_HINTED = 20
"""Problems that get a "did you mean" hint: each compares a name with every candidate, so a
file with thousands of wrong names would spend seconds on hints nobody reads (only the
first few are shown)."""

_LISTED = 20
"""Names a hint lists at most: beyond that a list helps nobody."""
_BOOL_WORDS = {"yes", "no", "on", "off"}

_FIELD_SHAPES = {
    "command": "a command as a string or a list of strings",
    "exec": "a command as a string or a list of strings",
    "env": "a mapping of NAME: value, or a list of NAME=value",
    "depends_on": "a list of names, or a mapping of name: {condition: healthy|started}",
    "services": "a mapping of service names to their settings",
    "components": "a mapping of component names to their options",
    "restart": "a policy (always, on-failure, no) or a mapping",
    "check": "a mapping with one of http, tcp or exec",
    "local": "a mapping of local settings",
}
_TYPE_SHAPES = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "a string",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}
_MODEL_HINTS = {
    "DependsOn": "write `NAME: {condition: healthy}` or `NAME: {condition: started}`",
    "ServiceSpec": "give the service a mapping of settings, starting with `command:`",
    "CheckSpec": "write `check: {http: /health}`, `check: {tcp: true}` or `check: {exec: CMD}`",
}
_RANGES = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}


@dataclass(frozen=True)
class _Place:
    """What the models say about a location: the field there, its type, its model."""

    annotation: Any = None
    field: FieldInfo | None = None
    name: str | None = None


def _unwrap(tp: Any) -> Any:
    if get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else tp
    return tp


def _place(root: type[BaseModel], loc: Sequence[str | int]) -> _Place | None:
    place = _Place(annotation=root)
    for part in loc:
        tp = _unwrap(place.annotation)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = tp.model_fields.get(str(part))
            if field is None:
                return None
            place = _Place(field.annotation, field, str(part))
        elif get_origin(tp) is dict:
            place = _Place(get_args(tp)[1])
        elif get_origin(tp) is list:
            place = _Place(get_args(tp)[0])
        else:
            return None
    return place


def _model(place: _Place | None) -> type[BaseModel] | None:
    tp = _unwrap(place.annotation) if place else None
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def describe(value: object, raw: str | None = None) -> str:
    """A value as the person wrote it: `'two'`, `8080`, `no`, `a list`."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing" if not raw or raw == "~" else raw
    if isinstance(value, bool):
        word = "true" if value else "false"
        if raw and raw.lower() in _BOOL_WORDS:
            return f"{raw} (which YAML reads as {word})"
        return raw or word
    if isinstance(value, int | float):
        return raw or str(value)
    text = str(value)
    return f"'{text}'" if len(text) <= 60 else f"'{text[:57]}...'"


def close_match_hint(word: str, known: Sequence[str], what: str = "keys") -> str:
    match = difflib.get_close_matches(word, known, n=1, cutoff=0.6)
    if match:
        return f"did you mean `{match[0]}`?"
    if not known:
        return f"there are no {what} here"
    listed = ", ".join(known[:_LISTED]) + (", ..." if len(known) > _LISTED else "")
    return f"known {what}: {listed}"


def _where(prefix: Path, loc: Path) -> str:
    full = (*prefix, *loc)
    if not full:
        return "the top level"
    if len(full) == 2 and full[0] in ("services", "components"):
        return f"{str(full[0])[:-1]} {full[1]}"
    return f"`{'.'.join(str(p) for p in full)}`"


def _range(field: FieldInfo | None, ctx: dict[str, Any]) -> tuple[Any, Any]:
    low = ctx.get("ge", ctx.get("gt"))
    high = ctx.get("le", ctx.get("lt"))
    for meta in field.metadata if field else ():
        if isinstance(meta, Ge | Gt):
            low = meta.ge if isinstance(meta, Ge) else meta.gt
        elif isinstance(meta, Le | Lt):
            high = meta.le if isinstance(meta, Le) else meta.lt
    return low, high


def translate(
    errors: Sequence[ErrorDetails], root: type[BaseModel], prefix: Path, locator: Locator
) -> list[Problem]:
    """One problem per pydantic error; `prefix` is where `root`'s data sits in the file.

    Only the first MAX_HINTED unknown keys get a "did you mean": a hostile file with
    thousands of them would spend seconds on hints nobody reads."""
    problems = []
    unknown = 0
    for error in _one_per_union(errors, root):
        unknown += error["type"] == "extra_forbidden"
        problems.append(_one(error, root, prefix, locator, hinted=unknown <= MAX_HINTED))
    return problems


_MEMBER_TAGS = frozenset({"str", "int", "float", "bool"})
_TYPE_MISMATCHES = frozenset({"string_type", "int_type", "float_type", "bool_type"})
_MEMBER_SHAPES = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


def _one_per_union(errors: Sequence[ErrorDetails], root: type[BaseModel]) -> list[ErrorDetails]:
    """A value that fits no member of a union (`str | int | float | bool`) gets one error
    per member, at `value.str`, `value.int`, ...; one, at the value, says it: the member's
    own complaint when the type was its own (a NaN for `float`), else the first."""
    kept: list[ErrorDetails] = []
    at: dict[tuple[str | int, ...], int] = {}
    for error in errors:
        loc = tuple(error["loc"])
        place = _place(root, loc[:-1]) if loc and loc[-1] in _MEMBER_TAGS else None
        if place is None or get_origin(place.annotation) not in (Union, types.UnionType):
            kept.append(error)
            continue
        merged: ErrorDetails = {**error, "loc": loc[:-1]}
        if error["type"] in _TYPE_MISMATCHES:
            shapes = [_MEMBER_SHAPES.get(t, str(t)) for t in get_args(place.annotation)]
            expected = f"expected {', '.join(shapes[:-1])} or {shapes[-1]}"
            merged = {**merged, "type": "value_error", "ctx": {"error": expected}}
        if loc[:-1] not in at:
            at[loc[:-1]] = len(kept)
            kept.append(merged)
        elif error["type"] not in _TYPE_MISMATCHES:
            kept[at[loc[:-1]]] = merged
    return kept


@dataclass(frozen=True)
class _Error:
    """One pydantic error with everything needed to retell it."""

    kind: str
    loc: Path
    path: Path
    prefix: Path
    ctx: dict[str, Any]
    value: Any
    found: str
    raw: str | None
    msg: str
    place: _Place | None


def _one(
    error: ErrorDetails, root: type[BaseModel], prefix: Path, locator: Locator, *, hinted: bool
) -> Problem:
    loc: Path = tuple(p for p in error["loc"] if p != "[key]")
    path: Path = (*prefix, *loc)
    raw = locator.raw(path)
    err = _Error(
        kind=error["type"],
        loc=loc,
        path=path,
        prefix=prefix,
        ctx=dict(error.get("ctx") or {}),
        value=error.get("input"),
        found=describe(error.get("input"), raw),
        raw=raw,
        msg=error["msg"],
        place=_place(root, loc),
    )
    if err.kind == "missing":
        name = str(loc[-1]) if loc else "?"
        hint = f"add `{name}:` to {_where(prefix, loc[:-1])}"
        return locator.problem(path, f"`{name}` is required", hint)
    if err.kind == "extra_forbidden":
        return locator.problem(path, *_unknown_key(err, root, hinted=hinted))
    if err.kind == "literal_error":
        return locator.problem(path, *_literal(err), at_value=True)
    if err.kind in ("value_error", "assertion_error"):
        message = str(err.ctx["error"]) if "error" in err.ctx else err.msg.partition(", ")[2]
        if message.startswith("expected") and "found" not in message and _scalar(err.value):
            message = f"{message}, found {err.found}"
        return locator.problem(path, message, at_value=True)
    return locator.problem(path, *_wrong_type(err), at_value=True)


def _unknown_key(err: _Error, root: type[BaseModel], *, hinted: bool) -> tuple[str, str]:
    key = str(err.loc[-1]) if err.loc else "?"
    parent = _model(_place(root, err.loc[:-1]))
    hint = "remove it, or check its spelling"
    if hinted:
        hint = close_match_hint(key, list(parent.model_fields) if parent else [])
    if not err.path[:-1] and not hint.startswith("did"):
        hint += "; keys of your own must start with `x-`"
    return f"unknown key `{key}`", hint


def _literal(err: _Error) -> tuple[str, str]:
    options: list[str] = []
    if err.place and get_origin(err.place.annotation) is Literal:
        options = [str(o) for o in get_args(err.place.annotation)]
    text = ", ".join(options) or str(err.ctx.get("expected", "?")).replace("'", "")
    hint = f"use one of: {text}"
    if isinstance(err.value, bool) and str(err.raw).lower() in options:
        hint = f"quote it: '{err.raw}'"
    return f"expected one of {text}, found {err.found}", hint


def _wrong_type(err: _Error) -> tuple[str, str | None]:
    kind, place = err.kind, err.place
    expected = _TYPE_SHAPES.get(kind)
    hint: str | None = None
    if kind in ("list_type", "dict_type", "model_type", "model_attributes_type") and place:
        expected = _FIELD_SHAPES.get(place.name or "", expected)
    if expected is None and kind in _RANGES:
        expected = "an integer" if isinstance(err.value, int) else "a number"
    if expected == "an integer" or kind in _RANGES:
        low, high = _range(place.field if place else None, err.ctx)
        if low is not None and high is not None:
            expected = f"{expected} from {low} to {high}"
        elif low is not None:
            expected = f"{expected} of at least {low}"
        elif high is not None:
            expected = f"{expected} of at most {high}"
    model = _model(place)
    if model is not None and kind in ("model_type", "model_attributes_type"):
        hint = _MODEL_HINTS.get(model.__name__)
    if kind == "string_type" and _scalar(err.value) and err.value is not None:
        hint = f"quote it: '{err.raw or err.value}'"
    if expected is None:
        return f"{err.msg[:1].lower()}{err.msg[1:]}, found {err.found}", None
    return f"expected {expected}, found {err.found}", hint


def _scalar(value: object) -> bool:
    return not isinstance(value, dict | list)
