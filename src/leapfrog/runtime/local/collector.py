"""The telemetry collector of a local stack, in the supervisor's process: everything that
does not ship by itself reaches Kafka through it, with one `LogShipper` (and its disk
spool, so a Kafka that starts later or goes away loses nothing).

* logs (topic `logs`): every instance's log file through its format (a component's
  `log_format`; the catalog's Python logging; plain lines or JSON for services), the
  supervisor's own events, and the machine's logs the stack file's `host_logs` asks for;
* metrics (topic `metrics`, line protocol): each component's `metrics`, the catalog's
  `/v1/agent/metrics`, the Prometheus page of services with `scrape:`, and what the
  supervisor knows of every instance (CPU seconds, RSS, restarts, state, check latency).

Every event and line carries the tags stack, service, instance and host; the Kafka key
is the instance. Without Kafka (no `kafka` component, no KAFKA_BOOTSTRAP_SERVERS in the
supervisor's environment) nothing is collected.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from leapfrog.runtime.local.instance import Instance, InstanceState
from leapfrog.runtime.local.lifecycle_events import LifecycleEvents
from leapfrog.runtime.local.logpump import FileSource, LogPump, ReaderSource
from leapfrog.runtime.local.procstats import group_usage
from leapfrog.spec import HostLogsSpec
from leapfrog.telemetry import (
    AUDIT,
    PLAIN,
    PYTHON_LOGGING,
    SYSLOG,
    JournalReader,
    KmsgReader,
    LogAssembler,
    LogFormat,
    LogShipper,
    Sample,
    ShipperSettings,
    encode_event,
    prometheus_samples,
    rfc3339,
    sample_lines,
)

if TYPE_CHECKING:
    from leapfrog.runtime.local.supervisor import Supervisor

__all__ = ["Collector"]

METRICS_TIMEOUT = 10.0
_STATES = [str(s) for s in InstanceState]
_AUDIT_LOG = "/var/log/audit/audit.log"
_SYSLOG = "/var/log/syslog"
_CATALOG_LOG = replace(PYTHON_LOGGING, default_logger="leapfrog.catalog")


class Collector:
    """Attached to a supervisor (`attach`), started and closed with it."""

    def __init__(self, supervisor: Supervisor, host_logs: HostLogsSpec, bootstrap: str) -> None:
        self.supervisor = supervisor
        self.host_logs = host_logs
        self.host = socket.gethostname()
        self.stack = supervisor.plan.stack_name
        home = supervisor.paths.data / "telemetry"
        home.mkdir(parents=True, exist_ok=True)
        home.chmod(0o700)
        settings = ShipperSettings.from_env(
            service="leapfrog",
            instance="supervisor",
            spool_dir=home / "spool",
            environ={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap},
        )
        self.shipper = LogShipper(settings)
        self.interval = float(os.environ.get("LEAPFROG_METRICS_INTERVAL", "") or 10.0)
        self.pump = LogPump(self._ship_event, home / "positions.json", self._report)
        self.lifecycle = LifecycleEvents()
        self._task: asyncio.Task[None] | None = None
        self._scraped: dict[str, float] = {}
        self._metric_errors: set[str] = set()

    @classmethod
    def attach(cls, supervisor: Supervisor, host_logs: HostLogsSpec) -> Collector | None:
        bootstrap = supervisor.kafka_bootstrap()
        if bootstrap is None:
            return None
        collector = cls(supervisor, host_logs, bootstrap)
        supervisor.observers.append(collector.observe)
        supervisor.event_sinks.append(collector.supervisor_event)
        supervisor.companions.append(collector)
        return collector

    # -- life ---------------------------------------------------------------------------

    def start(self) -> None:
        self.shipper.start()
        for instance in self.supervisor.instances.values():
            self._follow(instance)
        self._host_sources()
        self.pump.start()
        self._task = asyncio.get_running_loop().create_task(self._metrics_loop(), name="metrics")

    async def close(self) -> None:
        """After every instance stopped: their last lines, a last snapshot, then flush."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await asyncio.to_thread(self.pump.close)
        await asyncio.to_thread(self.shipper.close, 10.0)

    def observe(self, instance: Instance) -> None:
        """Every published change of an instance: its lifecycle events, and its log
        followed from its first appearance (instances a new stack file adds included)."""
        self._follow(instance)
        for event in self.lifecycle.events(instance):
            self._ship_event(instance.name, {**event, **self._tags(instance)})

    # -- logs ---------------------------------------------------------------------------

    def _tags(self, instance: Instance) -> dict[str, object]:
        return {
            "stack": self.stack,
            "service": instance.launch.unit,
            "instance": instance.name,
            "host": self.host,
        }

    def _follow(self, instance: Instance) -> None:
        launch = instance.launch
        source = FileSource(
            name=launch.name,
            path=launch.log_path,
            assembler=LogAssembler(_log_format(instance), launch.name),
            fixed=self._tags(instance),
        )
        self.pump.add_file(source)

    def _host_sources(self) -> None:
        wanted = self.host_logs
        if wanted.syslog:
            self._host_file("syslog", _SYSLOG, SYSLOG)
        if wanted.audit:
            self._host_file("audit", _AUDIT_LOG, AUDIT)
        if wanted.kmsg:
            mark = self.pump.saved_position("kmsg")
            after = mark.get("seq") if isinstance(mark, dict) else None
            boot = mark.get("boot") if isinstance(mark, dict) else None
            reader = KmsgReader(
                after=after if isinstance(after, int) else None,
                boot_id=boot if isinstance(boot, str) else "",
            )
            self.pump.add_reader(ReaderSource("kmsg", reader, self._host_tags("kernel")))
        if wanted.journal:
            cursor = self.pump.saved_position("journal")
            reader_j = JournalReader(cursor=cursor if isinstance(cursor, str) else None)
            self.pump.add_reader(ReaderSource("journal", reader_j, self._host_tags("journal")))

    def _host_file(self, name: str, path: str, log_format: LogFormat) -> None:
        from pathlib import Path

        self.pump.add_file(
            FileSource(
                name=name,
                path=Path(path),
                assembler=LogAssembler(log_format),
                fixed={**self._host_tags(name), "source": name},
                from_end=True,
            )
        )

    def _host_tags(self, service: str) -> dict[str, object]:
        return {"stack": self.stack, "service": service, "instance": self.host, "host": self.host}

    def _ship_event(self, key: str, event: dict[str, object]) -> None:
        record = {"ts": rfc3339(time.time()), **event}
        self.shipper.ship_to(self.shipper.settings.log_topic, key, encode_event(record))

    def supervisor_event(self, event: dict[str, object]) -> None:
        """One of the supervisor's own events (an autoscaling decision), as a log event."""
        self._ship_event("supervisor", {**event, **self._host_tags("leapfrog")})

    def _report(self, text: str) -> None:
        """A problem of the collector itself: in the supervisor's log, and as an event."""
        self.supervisor.log_line(f"telemetry: {text}")
        event = {"level": "warning", "logger": "leapfrog.collector", "message": text}
        self._ship_event("supervisor", {**event, **self._host_tags("leapfrog")})

    # -- metrics ------------------------------------------------------------------------

    async def _metrics_loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.collect_metrics()

    async def collect_metrics(self) -> None:
        """One round: every instance's figures, each instance's lines as one record."""
        now = time.time_ns()
        instances = list(self.supervisor.instances.values())
        roots = frozenset({os.getpgrp(), *(i.pid for i in instances if i.pid is not None)})
        usage = await asyncio.to_thread(group_usage, roots=roots)
        rounds = [self._instance_samples(i, usage) for i in instances]
        gathered = await asyncio.gather(*rounds)
        for instance, samples in zip(instances, gathered, strict=True):
            tags = {k: str(v) for k, v in self._tags(instance).items()}
            self._ship_lines(instance.name, sample_lines(samples, tags, now))
        tags = {k: str(v) for k, v in self._host_tags("leapfrog").items()}
        tags["instance"] = "supervisor"
        self._ship_lines("supervisor", sample_lines(self._own_figures(usage), tags, now))

    def _own_figures(self, usage: dict[int, Any]) -> list[Sample]:
        """The supervisor's process group, and the collector's shipper (is it keeping up?)."""
        counters = self.shipper.counters
        figures = [
            Sample(f"leapfrog_telemetry_events_{name}_total", counters[name])
            for name in ("sent", "spooled", "dropped")
        ]
        figures += [
            Sample("leapfrog_telemetry_events_buffered", counters["buffered"]),
            Sample("leapfrog_telemetry_spool_bytes", self.shipper.spool_backlog_bytes),
            Sample("leapfrog_telemetry_kafka_reachable", float(self.shipper.kafka_reachable)),
        ]
        own = usage.get(os.getpgrp())
        if own is not None:
            figures += [
                Sample("leapfrog_supervisor_cpu_seconds_total", own.cpu_seconds),
                Sample("leapfrog_supervisor_rss_bytes", own.rss_bytes),
            ]
        return figures

    def _ship_lines(self, key: str, lines: list[str]) -> None:
        if lines:
            topic = self.shipper.settings.metrics_topic
            self.shipper.ship_to(topic, key, "\n".join(lines).encode())

    async def _instance_samples(self, instance: Instance, usage: dict[int, Any]) -> list[Sample]:
        samples = _supervisor_samples(instance, usage)
        if instance.state != InstanceState.HEALTHY or instance.pid is None:
            return samples
        try:
            async with asyncio.timeout(METRICS_TIMEOUT):
                samples += await self._own_samples(instance)
        except Exception as exc:  # any failure: reported once, tried again next round
            if instance.name not in self._metric_errors:
                self._metric_errors.add(instance.name)
                reason = str(exc).strip().splitlines()
                self._report(f"metrics of {instance.name}: {reason[-1] if reason else exc!r}")
        else:
            self._metric_errors.discard(instance.name)
        return samples

    async def _own_samples(self, instance: Instance) -> list[Sample]:
        launch = instance.launch
        run = launch.component
        if run is not None:
            return list(await run.component.metrics(run.options, run.where))
        if launch.kind == "catalog":
            return await self._catalog_samples(instance)
        scrape = self.supervisor.plan.units[launch.unit].service.scrape
        if scrape is None or launch.port is None:
            return []
        last = self._scraped.get(launch.name, 0.0)
        if time.monotonic() - last < scrape.interval - 0.5:
            return []
        self._scraped[launch.name] = time.monotonic()
        text = await _http_text(f"http://{launch.address}:{launch.port}{scrape.path}", {})
        return prometheus_samples(text)

    async def _catalog_samples(self, instance: Instance) -> list[Sample]:
        launch = instance.launch
        headers = {}
        token_file = self.supervisor.paths.catalog_token
        if token_file.exists():
            headers["X-Consul-Token"] = token_file.read_text().strip()
        url = f"http://{launch.address}:{launch.port}/v1/agent/metrics?format=prometheus"
        return prometheus_samples(await _http_text(url, headers))


def _log_format(instance: Instance) -> LogFormat:
    run = instance.launch.component
    if run is not None:
        return run.component.log_format(run.options)
    return _CATALOG_LOG if instance.launch.kind == "catalog" else PLAIN


def _supervisor_samples(instance: Instance, usage: dict[int, Any]) -> list[Sample]:
    """What the supervisor itself knows of the instance."""
    samples = [
        Sample("leapfrog_instance_restarts_total", instance.restarts),
        Sample("leapfrog_instance_healthy", float(instance.state == InstanceState.HEALTHY)),
    ]
    samples += [
        Sample("leapfrog_instance_state", float(str(instance.state) == state), {"state": state})
        for state in _STATES
    ]
    check = instance.check_seconds
    if check is not None:
        samples.append(Sample("leapfrog_instance_check_seconds", check))
    group = usage.get(instance.pid) if instance.pid is not None else None
    if group is not None:
        samples += [
            Sample("leapfrog_instance_cpu_seconds_total", group.cpu_seconds),
            Sample("leapfrog_instance_rss_bytes", group.rss_bytes),
            Sample("leapfrog_instance_processes", group.processes),
        ]
    if instance.started_at is not None and instance.pid is not None:
        uptime = time.time() - instance.started_at
        samples.append(Sample("leapfrog_instance_uptime_seconds", uptime))
    return samples


async def _http_text(url: str, headers: dict[str, str]) -> str:
    import httpx

    async with httpx.AsyncClient(timeout=5.0) as client:
        response = await client.get(url, headers=headers)
        response.raise_for_status()
        return response.text
