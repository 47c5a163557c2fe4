"""Whatever the file says, the loader answers with a Stack or a SpecError: never a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leapfrog.spec import SpecError, Stack, parse_stack

_BASE = Path("/tmp/leapfrog-property-test")
_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_FIELD_NAMES = [
    "name", "services", "components", "local", "command", "replicas", "port", "env",
    "depends_on", "check", "restart", "user", "working_dir", "stop_signal",
    "stop_grace_period", "http", "tcp", "exec", "interval", "timeout", "retries",
    "start_interval", "start_timeout", "policy", "backoff", "max_backoff", "reset_after",
    "crashloop_after", "condition", "state_dir", "addresses", "app_user", "web", "db",
    "x-ext", "<<",
]  # fmt: skip
_WORDS = [
    "no", "yes", "on", "off", "~", "always", "healthy", "started", "service_started",
    "10s", "1m30s", "-1", "1e400", ".nan", ".inf", "/health", "A=1", "SIGTERM", "web",
    "db", "127.42.0.0/16", "10.0.0.0/8", "0x1F", "0o17", "0b_", "2020-13-45", "1:30",
    "&a", "*a", "!!str", "[", "{", "'", '"', "\t", "- ", ": ", "#",
]  # fmt: skip

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(_WORDS),
    st.text(max_size=20),
)
_keys = st.one_of(st.sampled_from(_FIELD_NAMES), st.text(max_size=10))
_data = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(_keys, inner, max_size=5),
    ),
    max_leaves=30,
)


def _service() -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(_FIELD_NAMES[4:25]), _data, max_size=6)


_stack_like = st.fixed_dictionaries(
    {},
    optional={
        "name": _data,
        "services": st.dictionaries(_keys, _service(), max_size=4),
        "components": st.dictionaries(_keys, _data, max_size=3),
        "local": st.dictionaries(st.sampled_from(["state_dir", "addresses", "app_user"]), _data),
        "x-ext": _data,
    },
)


def _check(text: str) -> None:
    try:
        result = parse_stack(text, "leapfrog.yaml", _BASE)
    except SpecError as exc:
        assert exc.problems
        assert all(p.message for p in exc.problems)
        str(exc)
    else:
        assert isinstance(result, Stack)


@_SETTINGS
@given(st.text(max_size=300))
def test_arbitrary_text(text: str) -> None:
    _check(text)


@_SETTINGS
@given(
    st.lists(st.one_of(st.sampled_from(_WORDS + _FIELD_NAMES), st.text(max_size=8)), max_size=40)
)
def test_yaml_ish_fragments(parts: list[str]) -> None:
    _check(" ".join(parts).replace(" \\n ", "\n"))


@_SETTINGS
@given(st.lists(st.tuples(st.integers(0, 6), st.sampled_from(_FIELD_NAMES), _scalars), max_size=25))
def test_indented_lines(lines: list[tuple[int, str, Any]]) -> None:
    text = "\n".join(
        f"{'  ' * depth}{key}: {yaml.safe_dump(value).splitlines()[0] if value is not None else ''}"
        for depth, key, value in lines
    )
    _check(text)


@_SETTINGS
@given(_data)
def test_arbitrary_data_dumped_to_yaml(data: Any) -> None:
    _check(yaml.safe_dump(data))


@_SETTINGS
@given(_stack_like)
def test_stack_shaped_data(data: dict[str, Any]) -> None:
    _check(yaml.safe_dump(data, default_flow_style=False))
