"""Platform components (kafka, postgres, ...) that a stack file can ask for by name.

The contract is in `leapfrog.components.base`; each component is one module here and
registers in `_MODULES` under the key used in the stack file's `components:` section.
Modules import their heavy client libraries inside functions, so that loading the
registry (every CLI command does) stays cheap.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any

from pydantic import BaseModel

from leapfrog.components.base import Component

__all__ = ["Component", "component", "known_components"]

_MODULES: dict[str, str] = {
    # kind: "module:ClassName", added as components are implemented
    "postgres": "postgres:Postgres",
    "kafka": "kafka:Kafka",
    "zookeeper": "zookeeper:ZooKeeper",
    "lb": "lb:LoadBalancer",
    "opensearch": "opensearch:OpenSearch",
    "influxdb": "influxdb:InfluxDB",
    "logs-pipeline": "logs_pipeline:LogsPipeline",
    "metrics-pipeline": "metrics_pipeline:MetricsPipeline",
}


@cache
def component(kind: str) -> Component[Any]:
    """The component registered as `kind`; KeyError when there is none."""
    module_name, _, class_name = _MODULES[kind].partition(":")
    # A dotted name is a component outside this package (a team's own, or a test's).
    full_name = module_name if "." in module_name else f"leapfrog.components.{module_name}"
    module = importlib.import_module(full_name)
    instance: Component[Any] = getattr(module, class_name)()
    return instance


def known_components() -> dict[str, type[BaseModel]]:
    """Component kinds by stack-file name, each with the model of its options."""
    return {kind: component(kind).options_model for kind in _MODULES}
