"""`?filter=` expressions (the common part of HashiCorp's bexpr) over rendered JSON.

Supported: `Sel == "v"`, `!=`, `"v" in Sel`, `"v" not in Sel`, `Sel contains "v"`,
`Sel not contains "v"`, `Sel matches "re"`, `Sel not matches "re"`, `Sel is empty`,
`Sel is not empty`, `and`, `or`, `not`, parentheses. Selectors are dotted paths
(`Service.Meta.env`, `Meta["k"]`) into the JSON that the endpoint returns.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from leapfrog.catalog._body import BadRequest

__all__ = ["compile_filter"]

Predicate = Callable[[Any], bool]

_TOKEN = re.compile(
    r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|`[^`]*`)|(?P<op>==|!=|\(|\)|\[|\]|\.)'
    r"|(?P<word>[A-Za-z0-9_\-/:]+))"
)
_KEYWORDS = {"and", "or", "not", "in", "contains", "matches", "is", "empty"}


def _error(detail: str) -> BadRequest:
    return BadRequest(f"Failed to create boolean expression evaluator: {detail}")


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise _error(f"unexpected character at offset {pos}: {text[pos : pos + 10]!r}")
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "str":
            value = value[1:-1] if value[0] == "`" else re.sub(r"\\(.)", r"\1", value[1:-1])
        out.append((kind, value))
        pos = match.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.pos = 0

    def peek(self, offset: int = 0) -> tuple[str, str]:
        i = self.pos + offset
        return self.tokens[i] if i < len(self.tokens) else ("end", "")

    def take(self) -> tuple[str, str]:
        token = self.peek()
        self.pos += 1
        return token

    def keyword(self, word: str) -> bool:
        kind, value = self.peek()
        if kind == "word" and value.lower() == word:
            self.pos += 1
            return True
        return False

    def parse(self) -> Predicate:
        if not self.tokens:
            raise _error("empty expression")
        predicate = self.parse_or()
        if self.peek()[0] != "end":
            raise _error(f"unexpected {self.peek()[1]!r}")
        return predicate

    def parse_or(self) -> Predicate:
        left = self.parse_and()
        while self.keyword("or"):
            left = _either(left, self.parse_and())
        return left

    def parse_and(self) -> Predicate:
        left = self.parse_unary()
        while self.keyword("and"):
            left = _both(left, self.parse_unary())
        return left

    def parse_unary(self) -> Predicate:
        if self.keyword("not"):
            inner = self.parse_unary()
            return lambda item: not inner(item)
        if self.peek() == ("op", "("):
            self.take()
            inner = self.parse_or()
            if self.take() != ("op", ")"):
                raise _error("missing ')'")
            return inner
        return self.parse_match()

    def value(self) -> str:
        kind, value = self.take()
        if kind == "str" or (kind == "word" and value.lower() not in _KEYWORDS):
            return value
        raise _error(f"expected a value, found {value or 'the end'!r}")

    def selector(self) -> list[str]:
        kind, value = self.take()
        if kind != "word" or value.lower() in _KEYWORDS:
            raise _error(f"expected a selector, found {value or 'the end'!r}")
        path = [value]
        while self.peek() in (("op", "."), ("op", "[")):
            _, op = self.take()
            part_kind, part = self.take()
            if part_kind not in ("word", "str"):
                raise _error("malformed selector")
            if op == "[" and self.take() != ("op", "]"):
                raise _error("missing ']'")
            path.append(part)
        return path

    def parse_match(self) -> Predicate:
        if self.peek()[0] == "str" or (
            self.peek(1)[0] == "word" and self.peek(1)[1] in ("in", "not")
        ):
            wanted = self.value()
            negate = self.keyword("not")
            if not self.keyword("in"):
                raise _error("expected 'in' after a value")
            path = self.selector()
            return lambda item: _contains(_resolve(item, path), wanted) != negate
        path = self.selector()
        kind, op = self.take()
        if (kind, op) in (("op", "=="), ("op", "!=")):
            wanted = self.value()
            negate = op == "!="
            return lambda item: (_text(_resolve(item, path)) == wanted) != negate
        negate = kind == "word" and op.lower() == "not"
        if negate:
            kind, op = self.take()
        word = op.lower() if kind == "word" else ""
        if word == "contains":
            wanted = self.value()
            return lambda item: _contains(_resolve(item, path), wanted) != negate
        if word == "matches":
            pattern = self.value()
            try:
                regex = re.compile(pattern)
            except re.error as exc:
                raise _error(f"invalid regular expression {pattern!r}: {exc}") from None
            return lambda item: bool(regex.search(_text(_resolve(item, path)))) != negate
        if word == "is" and not negate:
            negate = self.keyword("not")
            if self.keyword("empty"):
                return lambda item: (not _resolve(item, path)) != negate
        raise _error(f"unsupported operator {op or 'the end'!r} after {'.'.join(path)}")


_MISSING = None


def _either(a: Predicate, b: Predicate) -> Predicate:
    return lambda item: a(item) or b(item)


def _both(a: Predicate, b: Predicate) -> Predicate:
    return lambda item: a(item) and b(item)


def _resolve(item: Any, path: list[str]) -> Any:
    value = item
    for part in path:
        if isinstance(value, dict):
            if part in value:
                value = value[part]
            else:
                lowered = {k.lower(): v for k, v in value.items()}
                value = lowered.get(part.lower(), _MISSING)
        elif isinstance(value, list):
            value = [_resolve(v, [part]) for v in value]
        else:
            return _MISSING
    return value


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def _contains(collection: Any, wanted: str) -> bool:
    if isinstance(collection, dict):
        return wanted in collection
    if isinstance(collection, list):
        return any(_text(v) == wanted for v in collection)
    if isinstance(collection, str):
        return wanted in collection
    return False


def compile_filter(text: str | None) -> Predicate | None:
    if text is None or text.strip() == "":
        return None
    return _Parser(text).parse()
