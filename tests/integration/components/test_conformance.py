"""Every registered component honours the contract against its real program: install
is idempotent, the instance becomes healthy, setup can run again, it stops on its stop
signal, and starts again from the same data directory."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from leapfrog.components import _MODULES, component
from leapfrog.components.base import NotSupported
from leapfrog.components.kube import KubeContext
from leapfrog.shared.cache import cache_dir
from leapfrog.telemetry import LogAssembler
from leapfrog.testing import RunningComponent, free_port, run_component, scratch_dir

KINDS = sorted(_MODULES)
# Components listening for the host on 127.0.0.1 (fixed default ports), given free ones:
# a stack of another test session may hold the defaults.
HOST_FACING = {"console": ("listen",), "lb": ("listen", "stats")}


@pytest.fixture
def base_dir() -> Iterator[Path]:
    with scratch_dir("lf-conformance-") as path:
        yield path


@pytest.mark.timeout(600)
@pytest.mark.parametrize("kind", KINDS)
def test_component_contract(kind: str, base_dir: Path) -> None:
    comp = component(kind)
    given = {key: f"127.0.0.1:{free_port()}" for key in HOST_FACING.get(kind, ())}
    options = comp.options(given)
    first = comp.install(options, cache_dir(), lambda _: None)
    with run_component(kind, given, base_dir, address="127.0.0.1") as running:
        again = comp.install(options, running.where.cache_dir, lambda _: None)
        assert (again.version, again.home) == (first.version, first.home)
        assert running.health().ok
        running.setup()  # idempotent: a second run changes nothing and does not fail
        env = running.env()
        assert env, f"{kind} hands services no connection environment"
        assert any(running.where.address in value for value in env.values())
        _check_telemetry(kind, running)
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
        assert rendered.objects
        # A part services can reach (it has a Service) hands them its address.
        if any(o["kind"] == "Service" for o in rendered.objects):
            assert rendered.env


def _check_telemetry(kind: str, running: RunningComponent) -> None:
    """Its metrics read from the running program, and its log format recognises the
    lines the program really wrote (the collector ships each record as one event)."""
    comp, options = running.component, running.options
    samples = asyncio.run(comp.metrics(options, running.where))
    assert samples, f"{kind} reports no metrics"
    assert all(s.name and s.name == s.name.lower() for s in samples)
    log_format = comp.log_format(options)
    lines = running.log_path.read_text(errors="replace").splitlines()
    if log_format.patterns:
        assert any(p.match(line) for p in log_format.patterns for line in lines), (
            f"{kind}'s log format matches none of its lines: {lines[:5]}"
        )
    assembler = LogAssembler(log_format, running.where.instance)
    events = [e for line in lines for e in assembler.feed(line)] + assembler.flush()
    assert events and all(
        e["level"] in {"debug", "info", "warning", "error", "critical"} for e in events
    )
