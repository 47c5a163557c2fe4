from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from leapfrog.plan import build_plan
from leapfrog.runtime.local.launch import build_launches
from leapfrog.runtime.local.paths import StatePaths
from leapfrog.shared.errors import LeapfrogError
from leapfrog.spec import parse_stack


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    """A directory the app user can enter: as root, launches run as that user."""
    path = Path(tempfile.mkdtemp(dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def launches(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    stack = parse_stack(text, "leapfrog.yaml", tmp_path)
    paths = StatePaths(stack.state_dir)
    paths.create()
    return build_launches(stack, build_plan(stack), paths)


def test_command_and_env_substitution(tmp_path: Path) -> None:
    result = launches(
        tmp_path,
        "services:\n"
        "  db: {command: x, port: 5432, replicas: 2}\n"
        "  web:\n"
        "    command: serve --bind ${HOST}:${PORT} --db $${NOT_EXPANDED}\n"
        "    port: 8080\n"
        "    env: {URL: 'http://${HOST}:${PORT}/', DBS: '${DB_ENDPOINTS}'}\n"
        "    depends_on: [db]\n",
    )
    (web,) = result["web"]
    assert web.argv == ("serve", "--bind", f"{web.address}:8080", "--db", "${NOT_EXPANDED}")
    assert web.env["URL"] == f"http://{web.address}:8080/"
    db1, db2 = result["db"]
    assert web.env["DBS"] == f"{db1.address}:5432,{db2.address}:5432"
    assert web.env["LEAPFROG_INSTANCE"] == "web-1" and web.env["PORT"] == "8080"


def test_unknown_variable_names_line_and_known_ones(tmp_path: Path) -> None:
    with pytest.raises(LeapfrogError) as info:
        launches(tmp_path, "services:\n  web:\n    command: serve ${PROT}\n    port: 1\n")
    assert "leapfrog.yaml:3" in info.value.message and "${PROT} is not set" in info.value.message
    assert info.value.hint is not None and "PORT" in info.value.hint


def test_missing_working_dir(tmp_path: Path) -> None:
    # The loader refuses a missing one; here it disappears between loading and starting.
    (tmp_path / "gone").mkdir()
    stack = parse_stack(
        "services:\n  web:\n    command: x\n    working_dir: gone\n", "leapfrog.yaml", tmp_path
    )
    (tmp_path / "gone").rmdir()
    paths = StatePaths(stack.state_dir)
    paths.create()
    with pytest.raises(LeapfrogError) as info:
        build_launches(stack, build_plan(stack), paths)
    assert "working_dir" in info.value.message and "not a directory" in info.value.message


def test_config_hash_follows_what_matters(tmp_path: Path) -> None:
    one = launches(tmp_path, "services:\n  w: {command: a, env: {X: '1'}}\n")["w"][0]
    same = launches(tmp_path, "services:\n  w: {command: a, env: {X: '1'}, restart: always}\n")[
        "w"
    ][0]
    other = launches(tmp_path, "services:\n  w: {command: a, env: {X: '2'}}\n")["w"][0]
    assert one.config_hash == same.config_hash != other.config_hash


def test_exec_check_gets_substitution(tmp_path: Path) -> None:
    (web,) = launches(
        tmp_path,
        "services:\n  web:\n    command: x\n    port: 81\n    check: {exec: 'probe ${PORT}'}\n",
    )["web"]
    assert web.check_argv == ("probe", "81")
