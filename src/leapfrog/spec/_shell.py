"""Splitting a command string like a POSIX shell: `shlex.split`'s result, in linear time.

`shlex` builds each word one character at a time by string concatenation, which is
quadratic in a word's length (a 1 MB word took 14 s). This splitter gives the same words
and the same errors (tests/unit/spec compare it with `shlex.split` on generated text) with
one regular-expression scan.
"""

from __future__ import annotations

import re

__all__ = ["split_command"]

_PIECE = re.compile(
    r"""(?P<plain>[^ \t\r\n'"\\]+)"""
    r"""|\\(?P<escaped>.)"""
    r"""|'(?P<single>[^']*+)'"""
    r'''|"(?P<double>(?:[^"\\]++|\\.)*+)"'''
    r"""|(?P<space>[ \t\r\n]+)"""
    r"""|(?P<open>['"\\])""",
    re.DOTALL,
)
_IN_DOUBLE = re.compile(r"""\\(["\\])""")
"""Inside double quotes a backslash escapes only `"` and itself; before others it stays."""


def split_command(text: str) -> list[str]:
    """The words of `text`; ValueError with shlex's message for an unclosed quote or escape."""
    words: list[str] = []
    parts: list[str] | None = None  # the word being read; None between words
    for match in _PIECE.finditer(text):
        kind = match.lastgroup
        if kind == "space":
            if parts is not None:
                words.append("".join(parts))
                parts = None
            continue
        if kind == "open":
            raise ValueError(_unclosed(match.group(), text[match.end() :]))
        value = match.group(kind or "plain")
        if kind == "double":
            value = _IN_DOUBLE.sub(r"\1", value)
        if parts is None:
            parts = []
        parts.append(value)
    if parts is not None:
        words.append("".join(parts))
    return words


def _unclosed(opening: str, rest: str) -> str:
    """shlex's message for the text's end inside an escape or a quote: inside double quotes,
    an odd run of backslashes at the end leaves the last one escaping nothing."""
    if opening == "\\":
        return "No escaped character"
    trailing = len(rest) - len(rest.rstrip("\\"))
    if opening == '"' and trailing % 2 == 1:
        return "No escaped character"
    return "No closing quotation"
