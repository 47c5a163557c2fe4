"""Files written to hurt: every one gets an answer (a Stack or located problems) quickly.

"Quickly" is each test's own timeout (pytest-timeout), never a measured duration: before
the limits, a 1 MB command took 14 s, a merge of 20,000 keys 27 s and /dev/zero was read
until memory ran out, so each of these tests would have been stopped by its timeout.
"""

from __future__ import annotations

import os
import shlex
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leapfrog.spec import MAX_FILE_BYTES, SpecError, Stack, load_stack, parse_stack
from leapfrog.spec._shell import split_command
from leapfrog.spec._yamlnodes import MAX_STRING, MAX_VALUES

FILENAME = "leapfrog.yaml"


def _services(extra: str, count: int) -> str:
    lines = (
        f"  s{i}: {{command: x, {extra.format(i=i, next=(i + 1) % count)}}}\n" for i in range(count)
    )
    return "services:\n" + "".join(lines)


def _answer(text: str, base: Path) -> Stack | SpecError:
    try:
        return parse_stack(text, FILENAME, base)
    except SpecError as exc:
        return exc


def _refused(text: str, base: Path) -> SpecError:
    answer = _answer(text, base)
    assert isinstance(answer, SpecError), "expected the file to be refused"
    return answer


@pytest.mark.timeout(10)
def test_dev_zero_is_refused_after_reading_the_cap(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        load_stack(Path("/dev/zero"))
    (p,) = info.value.problems
    assert p.message == "/dev/zero is larger than 1 MiB" and p.hint


@pytest.mark.timeout(20)
def test_a_pipe_is_read_no_further_than_the_cap(tmp_path: Path) -> None:
    fifo = tmp_path / "stack.fifo"
    os.mkfifo(fifo)
    limit = 64 * MAX_FILE_BYTES  # the writer's own bound, far above the cap
    written = 0

    def write() -> None:
        nonlocal written
        chunk = b"#" * 65536
        try:
            with fifo.open("wb") as pipe:
                while written < limit:
                    pipe.write(chunk)
                    written += len(chunk)
        except BrokenPipeError:
            pass  # the reader stopped: what this test wants

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    with pytest.raises(SpecError) as info:
        load_stack(fifo)
    writer.join(timeout=15)
    assert "larger than 1 MiB" in info.value.problems[0].message
    assert written <= MAX_FILE_BYTES + 4 * 65536  # the cap, plus what the pipe buffered


def test_a_file_of_exactly_the_cap_is_read(tmp_path: Path) -> None:
    path = tmp_path / FILENAME
    head = b"services:\n  web: {command: x}\n"
    path.write_bytes(head + b"#" * (MAX_FILE_BYTES - len(head)))
    assert load_stack(path).spec.services["web"].command == ["x"]
    path.write_bytes(path.read_bytes() + b"#")
    with pytest.raises(SpecError, match="larger than 1 MiB"):
        load_stack(path)


@pytest.mark.timeout(10)
def test_text_over_the_cap_is_refused(tmp_path: Path) -> None:
    error = _refused("#" * (MAX_FILE_BYTES + 1), tmp_path)
    assert "larger than 1 MiB" in error.problems[0].message


@pytest.mark.timeout(10)
def test_a_megabyte_command_is_refused_with_its_line(tmp_path: Path) -> None:
    error = _refused("services:\n  web:\n    command: " + "x" * 1_000_000 + "\n", tmp_path)
    (p,) = error.problems
    assert (p.line, p.field) == (3, "services.web.command")
    assert f"at most {MAX_STRING}" in p.message and p.hint


@pytest.mark.timeout(10)
def test_long_words_up_to_the_cap_split_in_linear_time(tmp_path: Path) -> None:
    # 15 words of nearly 64K characters: shlex's per-character concatenation was
    # quadratic in each word's length.
    word = "a\\ b" * (MAX_STRING // 4 - 1)
    services = "".join(f"  s{i}:\n    command: {word}\n" for i in range(15))
    stack = parse_stack(f"services:\n{services}", FILENAME, tmp_path)
    assert stack.spec.services["s0"].command == [word.replace("\\ ", " ")]


@pytest.mark.timeout(10)
def test_an_unclosed_quote_over_a_long_word_is_refused(tmp_path: Path) -> None:
    command = '"' + "\\\\" * (MAX_STRING // 2 - 1)
    error = _refused(f"services:\n  web:\n    command: '{command}'\n", tmp_path)
    (p,) = error.problems
    assert p.line == 3 and "No closing quotation" in p.message


@pytest.mark.timeout(10)
def test_a_merge_of_twenty_thousand_keys_is_answered(tmp_path: Path) -> None:
    keys = "".join(f"  k{i}: 1\n" for i in range(20_000))
    text = f"x-big: &big\n{keys}services:\n  web:\n    <<: *big\n    command: x\n"
    error = _refused(text, tmp_path)
    assert f"more than {MAX_VALUES}" in error.problems[0].message


@pytest.mark.timeout(10)
def test_a_large_merge_within_the_limits_keeps_every_line(tmp_path: Path) -> None:
    # 4,500 keys merged into one service (each merged key used to scan every merged value).
    keys = "".join(f"  k{i}: 1\n" for i in range(4_500))
    text = f"x-big: &big\n{keys}services:\n  web:\n    <<: *big\n    command: x\n"
    error = _refused(text, tmp_path)
    assert len(error.problems) == 4_500
    assert {p.line for p in error.problems} == set(range(2, 4_502))  # where each key was


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    "text",
    [
        # billion laughs: 10^9 values through nine levels of aliases
        "".join(
            f"l{i}: &l{i} [{', '.join([f'*l{i - 1}' if i else 'lol'] * 10)}]\n" for i in range(9)
        ),
        "services: " + "[" * 100_000 + "]" * 100_000,  # flow nesting
        "services:\n" + "".join(" " * i + "-\n" for i in range(1, 1400)),  # block nesting
        "x: [" + "1," * 400_000 + "]\n",  # no alias: just many values
        "a: &a {b: *a}\n",  # an alias inside itself
        _services("depends_on: [s{next}]", 2000),  # one long cycle
        _services("depends_on: [s{next}, s0]", 2000),  # as many cycles as services
        _services("depends_on: [zz{i}]", 2500),  # unknown dependencies, each with a hint
    ],
    ids=["laughs", "flow-depth", "block-depth", "many-values", "self-alias", "long-cycle",
         "many-cycles", "many-unknown"],
)  # fmt: skip
def test_bombs_are_answered(text: str, tmp_path: Path) -> None:
    error = _refused(text, tmp_path)
    assert error.problems and all(p.message for p in error.problems)
    assert len(str(error)) < 10 * MAX_FILE_BYTES  # the report stays a report


_PIECES = [
    "services:\n", "  web:\n", "    command: ", "x", "'", '"', "\\", "\x00", "\x1b", "\t",
    "\n", "\r", ": ", "- ", "[", "]", "{", "}", ",", "&a ", "*a", "<<: *a\n", "!!binary ",
    "!!python/object:os.system ", "? ", "|\n", ">-\n", "%YAML 1.1\n", "---\n", "...\n",
    "true", "1e999", ".nan", "0x_", "~", "\ufeff", "\ud800", "\u2028", "# ",
]  # fmt: skip


@st.composite
def _hostile(draw: st.DrawFn) -> str:
    """Pieces of YAML syntax, repeated and nested, with a few large runs among them."""
    parts = draw(st.lists(st.sampled_from(_PIECES), max_size=40))
    runs = draw(
        st.lists(
            st.tuples(
                st.integers(0, len(parts)), st.sampled_from(_PIECES), st.integers(1, 200_000)
            ),
            max_size=3,
        )
    )
    for at, piece, times in sorted(runs, reverse=True):
        parts.insert(at, piece * min(times, MAX_FILE_BYTES // (2 * len(piece))))
    return "".join(parts)


@pytest.mark.timeout(240)
@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=_hostile())
def test_generated_hostile_files_are_answered(text: str) -> None:
    answer = _answer(text, Path("/tmp/leapfrog-hostile-test"))
    if isinstance(answer, SpecError):
        assert answer.problems
        for p in answer.problems:
            assert p.message and (p.line is None or p.line >= 1)
            str(p).encode("utf-8")  # printable whatever the input held


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet=st.sampled_from(list(" \t\r\n'\"\\ab$#;|&")), max_size=40))
def test_split_command_is_shlex_split(text: str) -> None:
    try:
        expected: list[str] | str = shlex.split(text)
    except ValueError as exc:
        expected = str(exc)
    try:
        found: list[str] | str = split_command(text)
    except ValueError as exc:
        found = str(exc)
    assert found == expected
