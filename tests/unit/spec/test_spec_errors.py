"""Problem and SpecError as text, and the one-screen rendering."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import pytest
from rich.console import Console

from leapfrog.spec import Problem, SpecError, parse_stack, render


def _rendered(error: SpecError, width: int = 100) -> str:
    console = Console(record=True, width=width, color_system=None)
    render(error, console)
    return console.export_text()


def _error_of(text: str, tmp_path: Path) -> SpecError:
    with pytest.raises(SpecError) as info:
        parse_stack(text, "leapfrog.yaml", tmp_path)
    return info.value


def test_problem_as_text() -> None:
    full = Problem("leapfrog.yaml", 4, 15, "services.web.replicas", "expected x", "use y")
    assert str(full) == "leapfrog.yaml:4:15: services.web.replicas: expected x (hint: use y)"
    no_column = Problem("f.yaml", 4, None, "(stack)", "bad")
    assert str(no_column) == "f.yaml:4: (stack): bad"
    nowhere = Problem("f.yaml", None, None, "(stack)", "missing", "create it")
    assert str(nowhere) == "f.yaml: (stack): missing (hint: create it)"


def test_spec_error_sorts_by_line_and_prints_one_per_line() -> None:
    error = SpecError(
        [
            Problem("f", 9, 1, "b", "second"),
            Problem("f", None, None, "(stack)", "first"),
            Problem("f", 3, 7, "a", "middle"),
        ],
        source="a\n",
    )
    assert [p.message for p in error.problems] == ["first", "middle", "second"]
    assert str(error).splitlines() == [
        "f: (stack): first",
        "f:3:7: a: middle",
        "f:9:1: b: second",
    ]
    assert error.source == "a\n"


def test_spec_error_survives_pickling() -> None:
    error = SpecError([Problem("f", 1, 1, "a", "m", "h")], "x")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.problems, copy.source) == (error.problems, error.source)


def test_render_shows_location_message_source_caret_and_hint(tmp_path: Path) -> None:
    error = _error_of("services:\n  web:\n    command: x\n    replcas: 2\n", tmp_path)
    out = _rendered(error).splitlines()
    assert out[0] == "leapfrog.yaml has 1 problem"
    assert out[1] == "leapfrog.yaml:4:5 services.web.replcas: unknown key `replcas`"
    assert out[2] == "  4 |     replcas: 2"
    assert out[3] == "    |     ^ hint: did you mean `replicas`?"
    assert out[3].index("^") == out[2].index("r")


def test_caret_under_a_value(tmp_path: Path) -> None:
    error = _error_of("services:\n  web:\n    command: x\n    replicas: two\n", tmp_path)
    out = _rendered(error).splitlines()
    assert out[3].index("^") == out[2].index("two")


def test_render_many_problems_fits_one_screen(tmp_path: Path) -> None:
    services = "".join(f"  s{i}:\n    replicas: 1\n" for i in range(12))
    error = _error_of(f"services:\n{services}", tmp_path)
    assert len(error.problems) == 12
    out = _rendered(error).splitlines()
    assert out[0] == "leapfrog.yaml has 12 problems"
    assert len(out) <= 40
    assert out[-1] == "... and 2 more"
    assert sum(1 for line in out if re.match(r"^ +\| +\^", line)) == 10
    assert "Traceback" not in "\n".join(out)


def test_render_without_a_line(tmp_path: Path) -> None:
    error = SpecError(
        [Problem("x/leapfrog.yaml", None, None, "(stack)", "no stack file", "create it")]
    )
    assert _rendered(error).splitlines() == [
        "leapfrog.yaml has 1 problem",
        "x/leapfrog.yaml (stack): no stack file",
        "  hint: create it",
    ]


def test_render_without_source_has_no_snippet() -> None:
    error = SpecError([Problem("f.yaml", 3, 2, "a", "wrong")])
    assert _rendered(error).splitlines() == ["f.yaml has 1 problem", "f.yaml:3:2 a: wrong"]


def test_render_escapes_markup_in_user_text(tmp_path: Path) -> None:
    error = _error_of("services:\n  web:\n    command: x\n    '[bold]x': 1\n", tmp_path)
    out = _rendered(error)
    assert "unknown key `[bold]x`" in out
    assert "    '[bold]x': 1" in out


def test_render_long_line_keeps_the_caret_on_screen(tmp_path: Path) -> None:
    padding = ", ".join(f"arg{i}" for i in range(40))
    text = f"services:\n  web:\n    command: [{padding}, 7]\n"
    error = _error_of(text, tmp_path)
    out = _rendered(error, width=60).splitlines()
    at = next(i for i, line in enumerate(out) if line.startswith("  3 | "))
    snippet, caret = out[at], out[at + 1]
    assert len(snippet) <= 60
    assert "…" in snippet
    assert snippet[caret.index("^")] == "7"


def test_render_tabs_keep_the_caret_aligned() -> None:
    source = "a:\n\tb: c\n"
    error = SpecError([Problem("f", 2, 5, "a.b", "m")], source)
    out = _rendered(error).splitlines()
    assert out[3].index("^") == out[2].index("c")


def test_render_with_colour_still_has_plain_words(tmp_path: Path) -> None:
    error = _error_of("services:\n  web:\n    replicas: 1\n", tmp_path)
    console = Console(record=True, width=100, force_terminal=True, color_system="truecolor")
    render(error, console)
    text = console.export_text(styles=False)
    assert "hint: add `command:` to service web" in text
    assert "^" in text
