"""A reader of InfluxDB line protocol, written from the reference, to check what we write."""

from __future__ import annotations


def split_unescaped(text: str, separators: str) -> tuple[str, str, str]:
    """(text before the first unescaped separator, that separator, the rest), unescaped."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if char in separators:
            return "".join(out), char, text[i + 1 :]
        out.append(char)
        i += 1
    return "".join(out), "", ""


def parse(line: str) -> tuple[str, dict[str, str], dict[str, float], int]:
    measurement, sep, rest = split_unescaped(line, ", ")
    tags: dict[str, str] = {}
    while sep == ",":
        key, _eq, rest = split_unescaped(rest, "=")
        value, sep, rest = split_unescaped(rest, ", ")
        tags[key] = value
    fields: dict[str, float] = {}
    fields_text, _space, timestamp = rest.rpartition(" ")
    for chunk in _split_fields(fields_text):
        key, _eq, value = split_unescaped(chunk, "=")
        fields[key] = float(value)
    return measurement, tags, fields, int(timestamp)


def _split_fields(text: str) -> list[str]:
    chunks, start, i = [], 0, 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == ",":
            chunks.append(text[start:i])
            start = i + 1
        i += 1
    chunks.append(text[start:])
    return chunks
