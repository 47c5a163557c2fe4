from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from leapfrog.testing import RunningComponent, StackDir, run_component, scratch_dir

APPS = Path(__file__).parent / "apps"
# Services may run as the unprivileged app user, who cannot reach a Python under /root.
PYTHON = shutil.which("python3", path="/usr/bin:/bin") or sys.executable


KAFKA_ADDRESS = "127.0.0.31"
KAFKA_TOPICS = {"logs": {"partitions": 3}, "metrics": {"partitions": 1}}


@pytest.fixture(scope="package")
def kafka() -> Iterator[RunningComponent]:
    """One real broker for the integration tier (stopped when it ends), with the `logs`
    and `metrics` topics (and the Prometheus JMX exporter, whose figures the collector
    reads)."""
    with scratch_dir("lf-kafka-") as base:
        options = {"topics": KAFKA_TOPICS, "jmx_exporter_port": 7071}
        with run_component("kafka", options, base, address=KAFKA_ADDRESS) as running:
            yield running


@pytest.fixture
def stack() -> Iterator[StackDir]:
    with StackDir(catalog=False) as made:
        made.copy_in(APPS / "tiny.py")
        yield made


def tiny(name: str, port: int, *, extra: str = "", env: dict[str, str] | None = None) -> str:
    """YAML for a service running tests/integration/apps/tiny.py."""
    env_lines = "".join(f"\n      {k}: '{v}'" for k, v in (env or {}).items())
    env_block = f"\n    env:{env_lines}" if env else ""
    return (
        f"  {name}:\n"
        f"    command: {PYTHON} tiny.py\n"
        f"    port: {port}\n"
        f"    check: {{http: /health}}{env_block}\n"
        + "".join(f"    {line}\n" for line in extra.strip().splitlines() if line)
    )
