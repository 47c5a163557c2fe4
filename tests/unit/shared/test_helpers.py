from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leapfrog.shared.durations import format_duration, parse_duration
from leapfrog.shared.envsubst import UnknownVariable, substitute
from leapfrog.shared.files import atomic_write_json, read_json, tail_lines
from leapfrog.shared.ports import find_listener, port_is_free
from leapfrog.shared.procs import cmdline, is_running, process_start_time


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("10s", 10), ("1m30s", 90), ("2h", 7200), (3, 3.0), ("1.5", 1.5)],
)
def test_parse_duration(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["ten", "10x", "", True, None, "-1s", [1]])
def test_parse_duration_rejects(bad: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


@given(st.floats(min_value=0, max_value=86400, allow_nan=False))
def test_format_parses_back_close(seconds: float) -> None:
    assert abs(parse_duration(format_duration(seconds)) - seconds) <= max(0.5, seconds * 0.01)


def test_substitute() -> None:
    env = {"HOST": "127.1.2.3", "PORT": "80"}
    assert substitute("--bind ${HOST}:${PORT} $$HOME $x", env) == "--bind 127.1.2.3:80 $HOME $x"
    with pytest.raises(UnknownVariable) as info:
        substitute("${NOPE}", env)
    assert info.value.name == "NOPE"


def test_atomic_json_roundtrip(tmp_path: Path) -> None:
    target = tmp_path / "d" / "x.json"
    atomic_write_json(target, {"a": [1, 2]}, mode=0o600)
    assert read_json(target) == {"a": [1, 2]}
    assert target.stat().st_mode & 0o777 == 0o600
    assert read_json(tmp_path / "missing.json") is None
    (tmp_path / "bad.json").write_text("{")
    assert read_json(tmp_path / "bad.json") is None


def test_tail_lines(tmp_path: Path) -> None:
    path = tmp_path / "log"
    path.write_text("".join(f"line {i}\n" for i in range(5000)))
    assert tail_lines(path, 3) == ["line 4997", "line 4998", "line 4999"]
    assert tail_lines(tmp_path / "none", 3) == []


def test_process_identity() -> None:
    me = os.getpid()
    ticks = process_start_time(me)
    assert ticks is not None and is_running(me, ticks)
    assert not is_running(me, ticks + 1)  # same pid, other start time: someone else
    assert "python" in cmdline(me) or "pytest" in cmdline(me)


def test_find_listener_names_this_process() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert not port_is_free("127.0.0.1", port)
        holder = find_listener("127.0.0.1", port)
        assert holder is not None and holder.pid == os.getpid()
        assert f"127.0.0.1:{port} is held by pid {os.getpid()}" in holder.describe()
    assert port_is_free("127.0.0.1", port)


def test_wildcard_listener_conflicts_with_any_loopback_address() -> None:
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert not port_is_free("127.9.9.9", port)
        holder = find_listener("127.9.9.9", port)
        assert holder is not None and holder.pid == os.getpid() and holder.address == "0.0.0.0"
