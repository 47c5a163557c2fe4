"""The load balancer: HAProxy (or nginx) configured from the catalog.

The process is `leapfrog lb run`, which renders the configuration from the catalog
(blocking queries, quiescence), checks it, and keeps the proxy as its own child, so the
supervisor sees one unit. Services are routed by the meta their instances publish
(route_path, route_host, route_strip_prefix). Health is a real HTTP request through the
proxy: GET /health on the stats address."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from leapfrog.components._lb_install import install_engine
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
from leapfrog.shared.durations import parse_duration
from leapfrog.shared.probes import http_probe
from leapfrog.telemetry import HAPROXY, PYTHON_LOGGING, LogFormat, Sample

LB_LOG = LogFormat("lb", (*HAPROXY.patterns, *PYTHON_LOGGING.patterns), default_logger="lb")
"""HAProxy's (or nginx's) own messages and the renderer's Python logging."""

__all__ = ["LoadBalancer", "LoadBalancerOptions"]

_ADDRESS = r"^[A-Za-z0-9.\-]+:[0-9]{1,5}$"


class LoadBalancerOptions(ComponentOptions):
    """The load balancer: HAProxy (or nginx) in front of the services that declare a
    `route`, its backends following the catalog."""

    engine: Literal["haproxy", "nginx"] = Field(
        "haproxy",
        description="The proxy: HAProxy (membership, new services and routes without a reload) or "
        "nginx (a reload for each change); "
        "both from Debian's packages.",
    )
    listen: str = Field(
        "127.0.0.1:8080",
        pattern=_ADDRESS,
        description="Address of the entry point that routes to the services.",
    )
    stats: str = Field(
        "127.0.0.1:8404",
        pattern=_ADDRESS,
        description="Address of the stats page (HAProxy's, or nginx's stub_status) and of "
        "`/health`, which leapfrog probes.",
    )
    wait: str = Field(
        "50ms:250ms",
        description="Quiescence as MIN:MAX, like consul-template's wait: after a catalog "
        "change that needs a reload, render once it has been quiet for MIN, but at most MAX "
        "after the change. A change HAProxy takes through its runtime API (instances joining "
        "or leaving, new routes) goes live at once.",
    )
    template: str | None = Field(
        None,
        description="Your own Jinja2 template instead of the default one (absolute, or "
        "relative to the stack file's directory); see docs/lb.md for its functions.",
    )
    slots: int = Field(
        4,
        ge=1,
        le=1024,
        description="Minimum server slots per HAProxy backend; instances join and leave "
        "free slots through the runtime API, without a reload.",
    )
    threads: int = Field(
        1,
        ge=1,
        le=64,
        description="HAProxy's threads (nbthread) or nginx's worker processes. One is "
        "best on a small machine whose cores the services behind it need.",
    )
    access_log: bool = Field(
        True,
        description="Every request as a structured event in the lb's log and on Kafka's "
        "`logs` topic (when the stack has Kafka).",
    )
    stop_grace_period: str = Field(
        "25s",
        description="How long open connections may finish when the load balancer stops.",
    )

    @field_validator("listen", "stats")
    @classmethod
    def _port(cls, value: str) -> str:
        if not 1 <= int(value.rpartition(":")[2]) <= 65535:
            raise ValueError(f"expected a port from 1 to 65535 in {value!r}")
        return value

    def endpoints(self) -> Mapping[str, str]:
        return {"listen": self.listen, "stats": self.stats}

    @field_validator("wait")
    @classmethod
    def _wait(cls, value: str) -> str:
        low, colon, high = value.partition(":")
        minimum = parse_duration(low)
        if colon and parse_duration(high) < minimum:
            raise ValueError(f"the max ({high}) is shorter than the min ({low})")
        return value

    @field_validator("stop_grace_period")
    @classmethod
    def _grace(cls, value: str) -> str:
        parse_duration(value)
        return value


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


class LoadBalancer(Component[LoadBalancerOptions]):
    kind = "lb"
    options_model = LoadBalancerOptions
    default_port = 8080
    description = "HAProxy or nginx, its configuration rendered from the catalog"
    uses_catalog: ClassVar[bool] = True
    host_network: ClassVar[bool] = True
    runs_leapfrog: ClassVar[bool] = True
    """The runtime hands it CONSUL_HTTP_ADDR and CONSUL_HTTP_TOKEN."""

    def port(self, options: LoadBalancerOptions) -> int:
        return _split(options.listen)[1]

    def install(
        self, options: LoadBalancerOptions, cache_dir: Path, progress: Progress
    ) -> Installation:
        return install_engine(options.engine, progress)

    def process(
        self, options: LoadBalancerOptions, installation: Installation, where: Instance
    ) -> Process:
        argv = [
            sys.executable, "-m", "leapfrog", "lb", "run",
            "--engine", options.engine,
            "--listen", options.listen,
            "--stats", options.stats,
            "--wait", options.wait,
            "--data-dir", str(where.data_dir),
            "--binary", installation.extra["binary"],
            "--slots", str(options.slots),
            "--instance", where.instance,
            "--threads", str(options.threads),
            "--access-log" if options.access_log else "--no-access-log",
        ]  # fmt: skip
        if options.template:
            argv += ["--template", str(where.stack_path(options.template).resolve())]
        grace = parse_duration(options.stop_grace_period)
        return Process(
            argv=tuple(argv),
            env={"PYTHONUNBUFFERED": "1"},
            stop_signal="SIGTERM",
            stop_grace_period=grace + 5.0,
            start_timeout=60.0,
        )

    async def health(self, options: LoadBalancerOptions, where: Instance) -> Health:
        host, port = _split(options.stats)
        ok, detail = await http_probe(host, port, "/health", timeout=2.0)
        return Health(ok, f"{options.engine} on {options.listen}: {detail}")

    def connection_env(self, options: LoadBalancerOptions, where: Instance) -> dict[str, str]:
        return {"LEAPFROG_LB_URL": f"http://{options.listen}"}

    def log_format(self, options: LoadBalancerOptions) -> LogFormat:
        # The proxy's own messages and the renderer's; its JSON events (access lines
        # included) name the instance and were shipped by the renderer itself.
        return LB_LOG

    async def metrics(self, options: LoadBalancerOptions, where: Instance) -> list[Sample]:
        from leapfrog.components._lb_metrics import stats_samples

        return await stats_samples(options.engine, options.stats)

    def render_kubernetes(self, options: LoadBalancerOptions, kube: KubeContext) -> KubeRender:
        from leapfrog.components._lb_kube import render_lb

        return render_lb(options, kube)
