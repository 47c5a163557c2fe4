"""The lb component's launch: it reads the catalog, so the runtime hands it what services
get (the catalog's address and token, the other components' connection variables)."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import leapfrog.components as registry
from leapfrog.components.base import Installation
from leapfrog.plan import build_plan
from leapfrog.runtime.local.launch import build_launches
from leapfrog.runtime.local.paths import StatePaths
from leapfrog.spec import parse_stack


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(autouse=True)
def components(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(registry._MODULES, "fakedb", "tests.unit.runtime._fake_component:FakeDb")
    # No apt here: the lb's install is what an installed HAProxy would give.
    installed = Installation("2.6.12", Path("/usr/sbin"), {"binary": "/usr/sbin/haproxy"})
    monkeypatch.setattr("leapfrog.components.lb.install_engine", lambda *_: installed)
    registry.component.cache_clear()
    yield
    registry.component.cache_clear()


def test_the_lb_gets_the_catalog_and_the_components_environment(tmp_path: Path) -> None:
    text = "components:\n  lb: {listen: '127.0.0.1:18080'}\n  fakedb: {}\n"
    stack = parse_stack(text, "leapfrog.yaml", tmp_path)
    paths = StatePaths(stack.state_dir)
    paths.create()
    launches = build_launches(stack, build_plan(stack), paths)
    (lb,) = launches["lb"]
    (db,) = launches["fakedb"]
    tokens = json.loads(paths.catalog_tokens.read_text())["tokens"]
    assert lb.env["CONSUL_HTTP_ADDR"] == "127.0.0.1:8500"
    assert lb.env["CONSUL_HTTP_TOKEN"] == tokens["read"]["SecretID"]  # read-only
    assert set(tokens["read"]["Rules"]) == {"service_prefix", "node_prefix", "key_prefix"}
    assert all(r[""]["policy"] == "read" for r in tokens["read"]["Rules"].values())
    assert lb.env["FAKEDB_URL"].startswith("fake://")
    assert lb.env["PYTHONUNBUFFERED"] == "1"  # its own environment is kept
    assert "CONSUL_HTTP_ADDR" not in db.env  # other components are left as they were
    argv = list(lb.argv)
    assert argv[argv.index("--listen") + 1] == "127.0.0.1:18080"
    assert argv[argv.index("--instance") + 1] == "lb-1"
