"""Checking one line of InfluxDB line protocol before it is sent.

`measurement[,tag=value...] field=value[,field=value...] [timestamp]`, with the
escaping of the line-protocol reference (backslash before comma and space in a
measurement, before comma, equals sign and space in tag keys, tag values and field
keys; double-quoted string fields with `\\"` and `\\\\`). A bad line is found here, so
that it goes to the dead-letter topic alone instead of failing the batch it came in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["LineCheck", "check_line"]

_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_INTEGER = re.compile(r"^[+-]?\d+i$")
_UNSIGNED = re.compile(r"^\d+u$")
_BOOLEAN = frozenset({"t", "T", "true", "True", "TRUE", "f", "F", "false", "False", "FALSE"})
_TIMESTAMP = re.compile(r"^-?\d{1,19}$")
_KEY = r"(?:[^,=\s\\]++|\\.)++"
_VALUE = (
    r'(?:"(?:[^"\\]++|\\.)*+"'
    r"|[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?\d+i|\d+u"
    r"|t|T|true|True|TRUE|f|F|false|False|FALSE)"
)
# The whole grammar in one expression: most lines are valid, and a regular expression
# decides that in C. The scanner below only runs for a line this refuses, to say why.
_LINE = re.compile(
    r"(?:[^,\s\\#]|\\.)(?:[^,\s\\]++|\\.)*+"
    rf"(?:,{_KEY}={_KEY})*"
    rf" {_KEY}={_VALUE}(?:,{_KEY}={_VALUE})*"
    r"(?P<ts> -?\d{1,19})?[ \t]*"
)


@dataclass(frozen=True)
class LineCheck:
    error: str
    """Empty when the line is valid."""
    has_timestamp: bool = False


def _scan(line: str, start: int, stops: str) -> int:
    """Index of the first unescaped character of `stops` from `start` (or the end)."""
    i, n = start, len(line)
    while i < n:
        char = line[i]
        if char == "\\" and i + 1 < n:
            i += 2
            continue
        if char in stops:
            return i
        i += 1
    return n


def check_line(line: str) -> LineCheck:
    match = _LINE.fullmatch(line)
    if match:
        return LineCheck("", has_timestamp=match.group("ts") is not None)
    found = _explain(line)
    return found if found.error else LineCheck("not valid line protocol")


def _explain(line: str) -> LineCheck:
    if not line or line.isspace():
        return LineCheck("empty line")
    if line[0] in " \t":
        return LineCheck("starts with a space: no measurement")
    end = _scan(line, 0, ", ")
    if end == 0:
        return LineCheck("no measurement")
    i = end
    while i < len(line) and line[i] == ",":
        eq = _scan(line, i + 1, "=, ")
        if eq == i + 1 or eq >= len(line) or line[eq] != "=":
            return LineCheck(f"tag at {i + 1} has no key=value")
        stop = _scan(line, eq + 1, ", ")
        if stop == eq + 1:
            return LineCheck(f"tag at {i + 1} has an empty value")
        i = stop
    if i >= len(line) or line[i] != " ":
        return LineCheck("no fields")
    i += 1
    count = 0
    while True:
        eq = _scan(line, i, "=, ")
        if eq == i or eq >= len(line) or line[eq] != "=":
            return LineCheck(f"field at {i} has no key=value")
        error, i = _field_value(line, eq + 1)
        if error:
            return LineCheck(error)
        count += 1
        if i < len(line) and line[i] == ",":
            i += 1
            continue
        break
    rest = line[i:].strip()
    if not rest:
        return LineCheck("", has_timestamp=False)
    if not _TIMESTAMP.match(rest):
        return LineCheck(f"timestamp {rest[:32]!r} is not an integer")
    return LineCheck("", has_timestamp=True)


def _field_value(line: str, start: int) -> tuple[str, int]:
    if start < len(line) and line[start] == '"':
        i = start + 1
        while i < len(line):
            if line[i] == "\\" and i + 1 < len(line):
                i += 2
                continue
            if line[i] == '"':
                return "", i + 1
            i += 1
        return f"string field at {start} is not closed", i
    stop = start
    while stop < len(line) and line[stop] not in ", ":
        stop += 1
    value = line[start:stop]
    if not value:
        return f"field at {start} has no value", stop
    if _NUMBER.match(value) or _INTEGER.match(value) or _UNSIGNED.match(value):
        return "", stop
    if value in _BOOLEAN:
        return "", stop
    return f"field value {value[:32]!r} is not a number, integer, boolean or string", stop
