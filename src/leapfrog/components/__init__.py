"""Platform components (kafka, postgres, ...) that a stack file can ask for by name.

The contract is in `leapfrog.components.base`; each component is one module here and
registers in `_MODULES` under the key used in the stack file's `components:` section.
Modules import their heavy client libraries inside functions, so that loading the
registry (every CLI command does) stays cheap.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
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
    "flink": "flink:Flink",
    "logs-pipeline": "logs_pipeline:LogsPipeline",
    "metrics-pipeline": "metrics_pipeline:MetricsPipeline",
    "console": "console:Console",
    "backups": "backups:BackupScheduler",
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


class _OptionModels(Mapping[str, type[BaseModel]]):
    """The kinds, each component's module imported only when its model is looked up: a
    stack file is checked against the components it names, not against every one."""

    def __getitem__(self, kind: str) -> type[BaseModel]:
        if kind not in _MODULES:
            raise KeyError(kind)
        return component(kind).options_model

    def __iter__(self) -> Iterator[str]:
        return iter(_MODULES)

    def __len__(self) -> int:
        return len(_MODULES)


def known_components() -> Mapping[str, type[BaseModel]]:
    """Component kinds by stack-file name, each with the model of its options."""
    return _OptionModels()
