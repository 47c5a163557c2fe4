"""Helpers for the stack-file tests: parse text, or parse it expecting problems."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from leapfrog.spec import Problem, SpecError, Stack, parse_stack

FILENAME = "leapfrog.yaml"


@pytest.fixture
def parse(tmp_path: Path) -> Callable[[str], Stack]:
    def run(text: str) -> Stack:
        return parse_stack(textwrap.dedent(text), FILENAME, tmp_path)

    return run


@pytest.fixture
def problems(tmp_path: Path) -> Callable[[str], list[Problem]]:
    def run(text: str) -> list[Problem]:
        with pytest.raises(SpecError) as info:
            parse_stack(textwrap.dedent(text), FILENAME, tmp_path)
        assert info.value.problems, "a SpecError always has problems"
        return info.value.problems

    return run


@pytest.fixture
def problem(problems: Callable[[str], list[Problem]]) -> Callable[[str], Problem]:
    def run(text: str) -> Problem:
        found = problems(text)
        assert len(found) == 1, "\n".join(str(p) for p in found)
        return found[0]

    return run
