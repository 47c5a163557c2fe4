"""The console: leapfrog's own web UI for the stack (overview, services and KV, logs,
metrics, backups, streams), served by `leapfrog console serve` (`leapfrog.console`).

Like the pipelines it is leapfrog's own process and finds the stores through the
connection environment every component hands services (`CONSUL_HTTP_ADDR`,
`OPENSEARCH_URL`, `INFLUXDB_URL`, `FLINK_URL`). It reads the stack's state (the
supervisor's status, the backup history), so it runs as the supervisor's user. Its
front-end libraries (htmx, uPlot) come from npm at install and are served by the console
itself: nothing is fetched from the internet when a page loads. See docs/console.md.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

import httpx
from pydantic import Field, field_validator

import leapfrog
from leapfrog.components._npm import fetch_package
from leapfrog.components._opensearch_config import OpenSearchOptions
from leapfrog.components.base import (
    Component,
    ComponentOptions,
    Health,
    Installation,
    Instance,
    Process,
    Progress,
)
from leapfrog.components.kube import KubeContext, KubeRender
from leapfrog.shared.probes import http_probe
from leapfrog.telemetry import PYTHON_LOGGING, LogFormat, Sample, prometheus_samples

__all__ = ["FRONT_END", "Console", "ConsoleOptions"]

FRONT_END: Mapping[str, str] = {"htmx.org": "2.0.11", "uplot": "1.6.32"}
"""The npm packages the pages use, pinned: fetched once into the cache at install."""


class ConsoleOptions(ComponentOptions):
    """The console: one web UI for the stack."""

    listen: str = Field(
        "127.0.0.1:8900",
        pattern=r"^[A-Za-z0-9.\-]+:[0-9]{1,5}$",
        description="Address of the console; the catalog's /ui leads here.",
    )
    logs_index: str = Field(
        "logs",
        pattern=r"^[a-z0-9][a-z0-9_.-]{0,60}$",
        description="The logs pipeline's index prefix: the Logs page searches PREFIX-*.",
    )
    metrics_database: str = Field(
        "leapfrog",
        min_length=1,
        description="The InfluxDB database the metrics pipeline writes (its `database`).",
    )

    grafana: bool = Field(
        True,
        description="On Kubernetes: render Grafana (grafana/grafana) next to the console, "
        "with the stack's InfluxDB and OpenSearch as datasources and the console's dashboards.",
    )
    grafana_version: str = Field(
        "12.2.1",
        pattern=r"^[0-9]+\.[0-9]+\.[0-9]+$",
        description="Grafana's version on Kubernetes (its image tag, 11.5 or later).",
    )
    opensearch_dashboards: bool = Field(
        True,
        description="On Kubernetes: render OpenSearch Dashboards next to the console, "
        "reading the stack's OpenSearch, the logs' index pattern its default.",
    )
    opensearch_dashboards_version: str = Field(
        OpenSearchOptions.model_fields["version"].default,
        pattern=r"^[0-9]+\.[0-9]+\.[0-9]+$",
        description="OpenSearch Dashboards' version on Kubernetes: the stack's OpenSearch "
        "`version` (the two must match).",
    )

    @field_validator("listen")
    @classmethod
    def _port(cls, value: str) -> str:
        if not 1 <= int(value.rpartition(":")[2]) <= 65535:
            raise ValueError(f"expected a port from 1 to 65535 in {value!r}")
        return value

    def endpoints(self) -> Mapping[str, str]:
        return {"listen": self.listen}


class Console(Component[ConsoleOptions]):
    kind = "console"
    options_model = ConsoleOptions
    default_port = 8900
    description = "leapfrog's web console: services, KV, logs, metrics, backups, streams"
    runs_leapfrog: ClassVar[bool] = True
    uses_catalog: ClassVar[bool] = True
    host_network: ClassVar[bool] = True
    """It gets the catalog's address and every component's connection environment."""
    reads_state: ClassVar[bool] = True

    def port(self, options: ConsoleOptions) -> int:
        return int(options.listen.rpartition(":")[2])

    def install(self, options: ConsoleOptions, cache_dir: Path, progress: Progress) -> Installation:
        assets = {
            name: str(fetch_package(cache_dir, name, v, progress)) for name, v in FRONT_END.items()
        }
        return Installation(
            version=leapfrog.__version__, home=Path(sys.executable).parent, extra=assets
        )

    def process(
        self, options: ConsoleOptions, installation: Installation, where: Instance
    ) -> Process:
        argv = [
            sys.executable, "-m", "leapfrog", "console", "serve",
            "--listen", options.listen,
            "--logs-index", options.logs_index,
            "--metrics-database", options.metrics_database,
            "--htmx", installation.extra["htmx.org"],
            "--uplot", installation.extra["uplot"],
        ]  # fmt: skip
        return Process(
            argv=tuple(argv),
            env={"PYTHONUNBUFFERED": "1"},
            stop_grace_period=5.0,
            start_timeout=30.0,
        )

    async def health(self, options: ConsoleOptions, where: Instance) -> Health:
        host, _, port = options.listen.rpartition(":")
        ok, detail = await http_probe(host, int(port), "/healthz", timeout=2.0)
        return Health(ok, f"console on {options.listen}: {detail}")

    async def metrics(self, options: ConsoleOptions, where: Instance) -> list[Sample]:
        """Its own figures: sessions, live pages, whether it reaches the supervisor."""
        async with httpx.AsyncClient(timeout=5.0) as client:
            response = await client.get(f"http://{options.listen}/-/metrics")
        response.raise_for_status()
        return prometheus_samples(response.text)

    def connection_env(self, options: ConsoleOptions, where: Instance) -> dict[str, str]:
        return {"LEAPFROG_CONSOLE_URL": f"http://{options.listen}"}

    def web_ui(self, options: ConsoleOptions) -> str | None:
        return f"http://{options.listen}/"

    def render_kubernetes(self, options: ConsoleOptions, kube: KubeContext) -> KubeRender:
        from leapfrog.components._console_kube import render_console

        return render_console(self.port(options), options, kube)

    def log_format(self, options: ConsoleOptions) -> LogFormat:
        from dataclasses import replace

        return replace(PYTHON_LOGGING, default_logger="leapfrog.console")
