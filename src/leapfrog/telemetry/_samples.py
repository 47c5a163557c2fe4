"""Metric samples read from a program (its stats, a Prometheus page) as line protocol.

A `Sample` is one number with its name and labels, as a component's `metrics` step
returns them. `sample_lines` writes them as line protocol with the collector's tags
(stack, service, instance, host), the same way `to_line_protocol` writes a service's
own registry: one float field `value`, a label named like a given tag kept as
`exported_<name>`, non-finite values left out.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from leapfrog.telemetry._lineproto import line

__all__ = ["Sample", "metric_name", "prometheus_samples", "sample_lines"]


@dataclass(frozen=True)
class Sample:
    name: str
    """The measurement: `postgres_xact_commit_total`, `haproxy_server_queue`..."""
    value: float
    labels: Mapping[str, str] = field(default_factory=dict)


_NOT_NAME = re.compile(r"[^a-zA-Z0-9_]+")


def metric_name(*parts: str) -> str:
    """`zookeeper`, `avg_latency` -> `zookeeper_avg_latency`; dots and dashes become `_`."""
    return "_".join(_NOT_NAME.sub("_", p).strip("_") for p in parts if p).lower()


def sample_lines(
    samples: Iterable[Sample], tags: Mapping[str, str], timestamp_ns: int
) -> list[str]:
    lines = []
    for sample in samples:
        value = float(sample.value)
        if not math.isfinite(value):
            continue
        sample_tags = {
            (f"exported_{k}" if k in tags else k): str(v) for k, v in sample.labels.items()
        }
        sample_tags.update(tags)
        lines.append(line(sample.name, sample_tags, {"value": value}, timestamp_ns))
    return lines


def prometheus_samples(text: str, *, prefix: str = "") -> list[Sample]:
    """Every sample of a Prometheus text page (`/metrics`); `*_created` left out, as the
    SDK's snapshots do. Raises ValueError when the page does not parse."""
    from prometheus_client.parser import text_string_to_metric_families

    samples = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            samples.append(Sample(prefix + sample.name, float(sample.value), dict(sample.labels)))
    return samples
