"""What the telemetry benchmarks share: one real Kafka broker for the run."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from _shared import no_interrupt
from leapfrog.testing import RunningComponent, run_component

__all__ = ["kafka_broker"]


@contextlib.contextmanager
def kafka_broker(address: str, topics: dict[str, dict[str, int]]) -> Iterator[RunningComponent]:
    """A started Kafka (the component's own install, config and health check) in a temp
    dir; stopped and removed on exit, also on Ctrl-C."""
    base = Path(tempfile.mkdtemp(prefix="lf-bench-telemetry-"))
    base.chmod(0o755)
    try:
        with run_component("kafka", {"topics": topics}, base, address=address) as running:
            try:
                yield running
            finally:
                with no_interrupt():
                    running.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)
