"""Every registered component honours the contract against its real program: install
is idempotent, the instance becomes healthy, setup can run again, it stops on its stop
signal, and starts again from the same data directory."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from leapfrog.components import _MODULES, component
from leapfrog.components.base import NotSupported
from leapfrog.components.kube import KubeContext
from leapfrog.shared.cache import cache_dir
from leapfrog.testing import run_component

KINDS = sorted(_MODULES)


@pytest.fixture
def base_dir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="lf-conformance-"))
    path.chmod(0o755)
    return path


@pytest.mark.timeout(600)
@pytest.mark.parametrize("kind", KINDS)
def test_component_contract(kind: str, base_dir: Path) -> None:
    comp = component(kind)
    options = comp.options({})
    first = comp.install(options, cache_dir(), lambda _: None)
    with run_component(kind, {}, base_dir, address="127.0.0.1") as running:
        again = comp.install(options, running.where.cache_dir, lambda _: None)
        assert (again.version, again.home) == (first.version, first.home)
        assert running.health().ok
        running.setup()  # idempotent: a second run changes nothing and does not fail
        env = running.env()
        assert env, f"{kind} hands services no connection environment"
        assert any(running.where.address in value for value in env.values())
        code = running.stop()
        assert code is not None
        assert not running.health().ok
        running.start()
        assert running.health().ok
    try:
        rendered = comp.render_kubernetes(options, KubeContext(namespace="ns", stack="s"))
    except NotSupported as exc:
        assert kind in str(exc)
    else:
        assert rendered.objects and rendered.env
