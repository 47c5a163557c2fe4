"""YAML text to plain data, remembering where every value was written.

PyYAML's constructors forget positions and silently keep the last of two duplicate keys;
building the data from the node tree ourselves keeps both, so every later problem can
name a line and a duplicate is reported instead of half-applied.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from leapfrog.spec.errors import Problem, SpecError, source_lines

__all__ = ["Locator", "Mark", "Path", "Spot", "dotted", "read_document"]

Path = tuple[str | int, ...]

try:
    _Loader: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Loader = yaml.SafeLoader

_TAG = "tag:yaml.org,2002:"
_MERGE = _TAG + "merge"
_AS_TEXT = {_TAG + "str", _TAG + "timestamp", _TAG + "value", _MERGE}
"""Tags kept as the text written: a date or `=` in a stack file is meant as text."""
_CONSTRUCTOR = SafeConstructor()
_SCALARS: dict[str, Callable[[Any], Any]] = {
    _TAG + "null": lambda node: None,
    _TAG + "bool": _CONSTRUCTOR.construct_yaml_bool,
    _TAG + "int": _CONSTRUCTOR.construct_yaml_int,
    _TAG + "float": _CONSTRUCTOR.construct_yaml_float,
}
MAX_DEPTH = 100
MAX_VALUES = 20_000
"""Keys and values, an alias counted at each use: a stack of 250 services is about 5,000.
Aliases can make a small file expand enormously, and even without them 1 MiB of YAML holds
half a million values; counting them on the parser's events, before any is built, keeps
the answer to such a file as fast as to a real one."""
MAX_STRING = 65_536
"""Characters in one key or value: a command's argument is at most 128 KiB on Linux, and
nothing in a stack file needs more than half of that; it keeps every later step short."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NUL = re.compile(r"\x00")
_MULTILINE: tuple[tuple[str | None, ...], ...] = (
    ("services", None, "command"),
    ("services", None, "check", "exec"),
    ("services", None, "env"),
)
"""Where a value reaches a program as an argument or an environment variable, and so may hold
any character but NUL; everywhere else (paths, names, addresses, configuration lines) a
control character cannot work, or would end a line of a generated configuration file."""

_HINTS = (
    ("mapping values are not allowed", "check this line's indentation, or quote a value with ': '"),
    ("tab", "indent with spaces, not tabs"),
    ("undefined alias", "define the anchor (&name) before the alias (*name) that uses it"),
    ("expected a single document", "remove the `---` line: a stack file holds one document"),
    ("could not find expected ':'", "a key needs a `:` after it"),
    ("end of stream", "close the quote or bracket opened here"),
    ("did not find expected ','", "close the bracket opened earlier, or separate items with ','"),
    ("did not find expected key", "check the indentation of the keys around this line"),
)


@dataclass(frozen=True)
class Mark:
    line: int
    column: int


@dataclass(frozen=True)
class Spot:
    """Where a value was written: its key, the value itself, and its plain text if scalar."""

    key: Mark
    value: Mark
    scalar: bool
    raw: str | None = None


def dotted(path: Path) -> str:
    parts = [str(p) for p in path if p != "[key]"]
    return ".".join(parts) if parts else "(stack)"


class Locator:
    """Turns a path into the line to blame, falling back to the nearest written parent."""

    def __init__(self, filename: str, spots: dict[Path, Spot]) -> None:
        self.filename = filename
        self.spots = spots

    def find(self, path: Path) -> tuple[Path, Spot] | None:
        for end in range(len(path), -1, -1):
            spot = self.spots.get(path[:end])
            if spot is not None:
                return path[:end], spot
        return None

    def raw(self, path: Path) -> str | None:
        spot = self.spots.get(path)
        return spot.raw if spot is not None else None

    def problem(
        self, path: Path, message: str, hint: str | None = None, *, at_value: bool = False
    ) -> Problem:
        found = self.find(path)
        if found is None:
            return Problem(self.filename, None, None, dotted(path), message, hint)
        where, spot = found
        mark = spot.value if at_value and where == path and spot.scalar else spot.key
        return Problem(self.filename, mark.line, mark.column, dotted(path), message, hint)


def read_document(text: str, filename: str) -> tuple[Any, dict[Path, Spot]]:
    """The data of the single YAML document in `text`, and the spot of every path in it.

    Raises SpecError for anything YAML itself rejects, and for duplicate keys.
    """
    try:
        _count_values(text)
        node = yaml.compose(text, Loader=_Loader)
    except _TooBig:
        raise SpecError([_too_big(filename)], text) from None
    except yaml.MarkedYAMLError as exc:
        raise SpecError([_syntax_problem(exc, text, filename)], text) from None
    except yaml.YAMLError as exc:
        raise SpecError([_reader_problem(exc, text, filename)], text) from None
    except RecursionError:
        problem = Problem(filename, None, None, "(stack)", "the file is nested too deeply")
        raise SpecError([problem], text) from None
    except UnicodeError:
        problem = Problem(filename, None, None, "(stack)", "the file is not valid Unicode text")
        raise SpecError([problem], text) from None
    if node is None:
        return None, {}
    builder = _Builder(filename)
    try:
        data = builder.build(node, (), None)
    except _TooBig:
        raise SpecError([_too_big(filename)], text) from None
    if builder.problems:
        raise SpecError(builder.problems, text)
    return data, builder.spots


class _TooBig(Exception):
    pass


_VALUE_EVENTS = (yaml.ScalarEvent, yaml.SequenceStartEvent, yaml.MappingStartEvent, yaml.AliasEvent)


def _count_values(text: str) -> None:
    """_TooBig once the parser has met more than MAX_VALUES values (aliases included)."""
    count = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, _VALUE_EVENTS):
            count += 1
            if count > MAX_VALUES:
                raise _TooBig


def _too_big(filename: str) -> Problem:
    message = f"the file holds more than {MAX_VALUES} keys and values (aliases count at each use)"
    hint = "a stack file this large is a mistake; use fewer or less nested aliases"
    return Problem(filename, None, None, "(stack)", message, hint)


def _mark(mark: Any) -> Mark:
    return Mark(mark.line + 1, mark.column + 1)


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    return "a list" if isinstance(node, yaml.SequenceNode) else "a value"


class _Builder:
    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.spots: dict[Path, Spot] = {}
        self.problems: list[Problem] = []
        self._count = 0
        self._open: set[int] = set()

    def _fail(self, mark: Mark, path: Path, message: str, hint: str | None = None) -> None:
        self.problems.append(
            Problem(self.filename, mark.line, mark.column, dotted(path), message, hint)
        )

    def build(self, node: yaml.Node, path: Path, key: Mark | None) -> Any:
        self._count += 1
        if self._count > MAX_VALUES:
            raise _TooBig
        at = _mark(node.start_mark)
        if isinstance(node, yaml.ScalarNode):
            raw = node.value if not node.style else None  # plain: libyaml says "", PyYAML None
            self.spots[path] = Spot(key or at, at, scalar=True, raw=raw)
            if not self._text_fits(node.value, path, at):
                return None
            return self._scalar(node, path, at)
        self.spots[path] = Spot(key or at, at, scalar=False)
        if len(path) >= MAX_DEPTH:
            self._fail(at, path, f"nested more than {MAX_DEPTH} levels deep")
            return None
        if id(node) in self._open:
            message = "this value contains an alias of itself (`*name` inside `&name`)"
            self._fail(at, path, message, "an alias may only refer to a finished value")
            return None
        expected = _TAG + ("map" if isinstance(node, yaml.MappingNode) else "seq")
        if node.tag != expected:
            self._fail(at, path, f"unsupported YAML tag `{node.tag}`", "remove the tag")
            return None
        self._open.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
            return [self.build(item, (*path, i), None) for i, item in enumerate(node.value)]
        finally:
            self._open.discard(id(node))

    def _text_fits(self, text: str, path: Path, at: Mark, *, key: bool = False) -> bool:
        """Whether a key or a scalar value is text leapfrog can use; a problem if not."""
        what = "key" if key else "value"
        if len(text) > MAX_STRING:
            message = f"a {what} of {len(text)} characters (at most {MAX_STRING})"
            self._fail(at, path, message, "keep long text in a file the service reads")
            return False
        found = _CONTROL.search(text)
        if found is None or _extension(path):
            return True
        if not key and _reaches_a_program(path):
            found = _NUL.search(text)
            if found is None:
                return True
        code = ord(found.group())
        message = f"the {what} holds the control character U+{code:04X}, which cannot work here"
        hint = "remove it" + ("" if code == 0 else " (only command, exec and env values may)")
        self._fail(at, path, message, hint)
        return False

    def _scalar(self, node: yaml.ScalarNode, path: Path, at: Mark) -> Any:
        if node.tag in _AS_TEXT:
            return node.value
        construct = _SCALARS.get(node.tag)
        if construct is None:
            self._fail(at, path, f"unsupported YAML tag `{node.tag}`", "remove the tag")
            return node.value
        try:
            return construct(node)
        except (ValueError, OverflowError, yaml.YAMLError):
            return node.value  # such as `0b_`: YAML's pattern matched but it is no number

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        result: dict[str, Any] = {}
        seen: dict[str, Mark] = {}
        merges: list[yaml.Node] = []
        for key_node, value_node in node.value:
            key_at = _mark(key_node.start_mark)
            if key_node.tag == _MERGE and isinstance(key_node, yaml.ScalarNode):
                merges.append(value_node)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                message = f"expected a name as key, found {_kind(key_node)}"
                self._fail(key_at, path, message, "use a plain word as key")
                continue
            key = key_node.value
            if not self._text_fits(key, (*path, key[:40]), key_at, key=True):
                continue
            if key in seen:
                message = f"duplicate key `{key}` (first on line {seen[key].line})"
                self._fail(key_at, (*path, key), message, "keep one of them")
                continue
            seen[key] = key_at
            result[key] = self.build(value_node, (*path, key), key_at)
        for merge in merges:
            self._merge(merge, path, result)
        return result

    def _merge(self, node: yaml.Node, path: Path, result: dict[str, Any]) -> None:
        """`<<: *defaults`, as compose files use it: keys written here win over merged ones."""
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        for source in sources:
            if not isinstance(source, yaml.MappingNode):
                at = _mark(source.start_mark)
                self._fail(at, path, f"`<<` merges mappings, found {_kind(source)}")
                continue
            outer = self.spots
            self.spots = {}
            try:
                merged = self.build(source, path, None)
            finally:
                inner, self.spots = self.spots, outer
            if not isinstance(merged, dict):
                continue
            added = {key for key in merged if key not in result}
            for key in added:
                result[key] = merged[key]
            depth = len(path)
            # One pass over the merged spots: per key a scan of all of them was quadratic.
            for sub, spot in inner.items():
                if len(sub) > depth and sub[depth] in added:
                    self.spots[sub] = spot


def _extension(path: Path) -> bool:
    return bool(path) and isinstance(path[0], str) and path[0].startswith("x-")


def _reaches_a_program(path: Path) -> bool:
    for place in _MULTILINE:
        head = path[: len(place)]
        if len(head) < len(place):
            continue
        if all(p in (None, q) for p, q in zip(place, head, strict=True)):
            return True
    return False


def _syntax_problem(exc: yaml.MarkedYAMLError, source: str, filename: str) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    text = (exc.problem or exc.context or "cannot be read").strip()
    if mark is not None and _char_at(source, mark.line, mark.column) == "\t":
        text = f"found a tab character: {text}"  # libyaml does not say which character
    if exc.context and exc.problem and exc.context_mark is not None:
        if "end of stream" in text:
            # The end of the file says nothing; the unclosed quote or bracket is the news.
            mark = exc.context_mark
            text = f"{text} {exc.context} that starts here"
        else:
            text = f"{text} ({exc.context} on line {exc.context_mark.line + 1})"
    hint = next((fix for words, fix in _HINTS if words in text), "check the YAML syntax here")
    line = mark.line + 1 if mark is not None else None
    column = mark.column + 1 if mark is not None else None
    return Problem(filename, line, column, "(stack)", f"invalid YAML: {text}", hint)


def _reader_problem(exc: yaml.YAMLError, text: str, filename: str) -> Problem:
    character = getattr(exc, "character", None)
    line = column = None
    found = "a character YAML does not allow"
    if isinstance(character, int):
        found = f"the character U+{character:04X}, which YAML does not allow"
        index = text.find(chr(character))
        if index >= 0:
            before = text[:index]
            line = before.count("\n") + 1
            column = index - (before.rfind("\n") + 1) + 1
    hint = "remove it, or write it as an escape inside double quotes"
    return Problem(filename, line, column, "(stack)", f"invalid YAML: found {found}", hint)


def _char_at(source: str, line: int, column: int) -> str:
    lines = source_lines(source)
    if 0 <= line < len(lines) and 0 <= column < len(lines[line]):
        return lines[line][column]
    return ""
