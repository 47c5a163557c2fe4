"""Apache Flink 2.2, a session cluster: one JobManager and N TaskManagers, and its jobs.

One instance is one cluster. Its process is leapfrog's small cluster launcher
(`_flink_cluster`), which runs Flink's own `jobmanager.sh` and `taskmanager.sh` in the
foreground as its children (`taskmanagers:` of them), restarts a TaskManager that dies,
submits the stack's jobs (Flink SQL files, PyFlink scripts) once the TaskManagers
are registered, and stops the jobs
with savepoints before the cluster on SIGTERM. Flink itself comes from PyPI's
`apache-flink` in its own environment in leapfrog's cache (`_flink_install`).

Every listener is on the instance's address (`_flink_config`). Health is the REST API's
`/overview`: the expected TaskManagers and slots registered; its detail names each
job's state (what `leapfrog status` shows). Services receive `FLINK_REST_URL`.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import sys
from pathlib import Path
from typing import Any, ClassVar

import httpx

from leapfrog.components._flink_config import (
    CONNECTORS,
    FlinkOptions,
    client_config_yaml,
    cluster_config,
    config_yaml,
    job_fingerprint,
    log4j_console_properties,
)
from leapfrog.components._flink_jobs import ACTIVE_STATES, STATE_FILE, JobSpec
from leapfrog.components._flink_stats import JOB_NAME as STATS_JOB
from leapfrog.components._flink_stats import STATE_VERSION as STATS_STATE_VERSION
from leapfrog.components._flink_stats import stats_sql
from leapfrog.components.base import Component, Health, Installation, Instance, Process, Progress
from leapfrog.components.kube import KubeContext, KubeRender
from leapfrog.shared.files import read_json
from leapfrog.telemetry import LOG4J_FLINK, LogFormat, Sample

__all__ = ["Flink", "FlinkOptions"]

CONF = "conf"
CLIENT_CONF = "client"
CLUSTER_SPEC = "cluster.json"
SAVEPOINT_TIMEOUT = 60.0
_LAUNCHER = "leapfrog.components._flink_cluster"


class Flink(Component[FlinkOptions]):
    kind = "flink"
    options_model = FlinkOptions
    default_port = 8081
    description = (
        "Apache Flink 2.2 session cluster (JobManager + TaskManagers, SQL and PyFlink jobs)"
    )
    runs_leapfrog: ClassVar[bool] = True
    uses_catalog: ClassVar[bool] = True
    host_network: ClassVar[bool] = True
    """Its jobs' SQL may name any component's connection variables (`${KAFKA_...}`)."""

    def install(self, options: FlinkOptions, cache_dir: Path, progress: Progress) -> Installation:
        from leapfrog.components._flink_install import install_flink

        return install_flink(options.version, options.connector_coordinates(), cache_dir, progress)

    def process(
        self, options: FlinkOptions, installation: Installation, where: Instance
    ) -> Process:
        data = where.data_dir
        extra = installation.extra
        settings = cluster_config(options, where.address, where.port, data, extra["java_opts"])
        files = {
            f"{CONF}/config.yaml": config_yaml(settings),
            f"{CONF}/log4j-console.properties": log4j_console_properties(),
            f"{CLIENT_CONF}/config.yaml": client_config_yaml(settings),
            f"{CLIENT_CONF}/log4j-cli.properties": _client_log4j(),
        }
        connectors: dict[str, list[str]] = json.loads(extra.get("connectors", "{}"))
        jobs = []
        for name, job in options.jobs.items():
            copy = f"jobs/{name}.{'py' if job.kind == 'python' else 'sql'}"
            source = where.stack_path(job.file)
            try:
                sql = source.read_text()
            except OSError:
                sql = None  # the cluster's process reports it, naming the file
            if sql is not None:
                files[copy] = sql
            jars = [jar for c in job.coordinates() for jar in connectors.get(c, [])]
            jobs.append(
                JobSpec(
                    name=name,
                    file=job.file,
                    copy=str(data / copy),
                    parallelism=job.parallelism,
                    restart_strategy=job.restart_strategy,
                    jars=tuple(jars),
                    fingerprint=job_fingerprint(job, sql or ""),
                    kind=job.kind,
                ).to_json()
            )
        if options.service_stats is not None:
            copy = f"jobs/{STATS_JOB}.sql"
            sql = stats_sql(options.service_stats)
            files[copy] = sql
            jobs.append(
                JobSpec(
                    name=STATS_JOB,
                    file=f"(leapfrog's {STATS_JOB} job)",
                    copy=str(data / copy),
                    parallelism=options.service_stats.parallelism,
                    restart_strategy="exponential-delay",
                    jars=tuple(connectors.get(CONNECTORS["kafka"], [])),
                    fingerprint=job_fingerprint(options.service_stats, sql),
                    state_version=STATS_STATE_VERSION,
                ).to_json()
            )
        spec: dict[str, Any] = {
            "data_dir": str(data),
            "rest_url": _url(where),
            "bin": extra["bin"],
            "java": extra["java"],
            "python": extra.get("python", sys.executable),
            "sql_client": extra["sql_client"],
            "client_conf": str(data / CLIENT_CONF),
            "client_java_opts": shlex.split(extra["java_opts"]),
            "taskmanagers": options.taskmanagers,
            "savepoint_timeout": SAVEPOINT_TIMEOUT,
            "jobs": jobs,
            "env": {
                "FLINK_CONF_DIR": str(data / CONF),
                "FLINK_LOG_DIR": str(data / "log"),
                "FLINK_PID_DIR": str(data / "run"),
            },
        }
        files[CLUSTER_SPEC] = json.dumps(spec, indent=1, sort_keys=True) + "\n"
        return Process(
            argv=(
                sys.executable,
                "-m",
                "leapfrog.components._flink_cluster",
                str(data / CLUSTER_SPEC),
            ),
            env={"PYTHONUNBUFFERED": "1"},
            files=files,
            init=(("mkdir", "-p", *(str(data / d) for d in ("log", "run", "tmp", "state"))),),
            stop_signal="SIGTERM",
            # Savepoints of the running jobs first, then the processes.
            stop_grace_period=SAVEPOINT_TIMEOUT + 30.0,
            start_timeout=180.0,
        )

    async def health(self, options: FlinkOptions, where: Instance) -> Health:
        try:
            async with httpx.AsyncClient(timeout=3.0) as client:
                answer = (await client.get(f"{_url(where)}/overview")).json()
                jobs = (await client.get(f"{_url(where)}/jobs/overview")).json().get("jobs", [])
        except (httpx.HTTPError, ValueError) as exc:
            return Health(False, f"GET /overview: {exc or type(exc).__name__}")
        managers, slots = int(answer.get("taskmanagers", 0)), int(answer.get("slots-total", 0))
        free = answer.get("slots-available", "?")
        detail = f"{managers} taskmanager(s), {slots} slots ({free} free)"
        if managers < options.taskmanagers or slots < options.taskmanagers * options.slots:
            want = f"{options.taskmanagers} taskmanager(s), {options.taskmanagers * options.slots}"
            return Health(False, f"{detail}; waiting for {want} slots")
        states = job_states(options, where.data_dir, jobs)
        if states:
            detail += "; jobs: " + ", ".join(f"{n} {s}" for n, s in states.items())
        return Health(True, detail)

    async def setup(self, options: FlinkOptions, where: Instance) -> None:
        """Wait (up to two minutes) until the cluster's process has submitted or refused
        every job in this start, so services that use the jobs' output start after them."""
        for _ in range(240):
            records = read_json(where.data_dir / STATE_FILE) or {}
            names = options.job_names()
            if all(records.get(name, {}).get("pending") is False for name in names):
                return
            await asyncio.sleep(0.5)

    def connection_env(self, options: FlinkOptions, where: Instance) -> dict[str, str]:
        return {"FLINK_REST_URL": _url(where)}

    def log_format(self, options: FlinkOptions) -> LogFormat:
        return LOG4J_FLINK

    async def metrics(self, options: FlinkOptions, where: Instance) -> list[Sample]:
        async with httpx.AsyncClient(timeout=5.0) as client:
            response = await client.get(f"{_url(where)}/overview")
            response.raise_for_status()
            answer = response.json()
        names = {
            "taskmanagers": "flink_taskmanagers",
            "slots-total": "flink_slots_total",
            "slots-available": "flink_slots_available",
            "jobs-running": "flink_jobs_running",
            "jobs-finished": "flink_jobs_finished",
            "jobs-cancelled": "flink_jobs_cancelled",
            "jobs-failed": "flink_jobs_failed",
        }
        return [Sample(name, float(answer[key])) for key, name in names.items() if key in answer]

    def render_kubernetes(self, options: FlinkOptions, kube: KubeContext) -> KubeRender:
        from leapfrog.components._flink_kube import render_flink

        return render_flink(options, kube)


def job_states(
    options: FlinkOptions, data_dir: Path, cluster: list[dict[str, Any]]
) -> dict[str, str]:
    """Each declared job's state: the cluster's newest job of that name, or why none runs."""
    records = read_json(data_dir / STATE_FILE) or {}
    # A script may name its job itself (`env.execute("x")`): its recorded id tells.
    by_id = {
        str(r["job_id"]): n for n, r in records.items() if isinstance(r, dict) and r.get("job_id")
    }
    newest: dict[str, dict[str, Any]] = {}
    for job in cluster:
        name = by_id.get(str(job.get("jid")), str(job.get("name")))
        if name not in newest or job.get("start-time", 0) > newest[name].get("start-time", 0):
            newest[name] = job
    states = {}
    for name in options.job_names():
        record = records.get(name, {}) if isinstance(records, dict) else {}
        if name in newest and (
            newest[name].get("state") in ACTIVE_STATES or not record.get("error")
        ):
            states[name] = str(newest[name].get("state"))
        elif record.get("error"):
            states[name] = f"NOT SUBMITTED ({record['error']})"
        else:
            states[name] = "PENDING"
    return states


def _client_log4j() -> str:
    """The SQL client logs to its own file; its console is the submission's answer."""
    return (
        "rootLogger.level = INFO\n"
        "rootLogger.appenderRef.file.ref = FileAppender\n"
        "appender.file.name = FileAppender\n"
        "appender.file.type = FILE\n"
        "appender.file.append = false\n"
        "appender.file.fileName = ${sys:log.file}\n"
        "appender.file.layout.type = PatternLayout\n"
        "appender.file.layout.pattern = %d{yyyy-MM-dd HH:mm:ss,SSS} %-5p %c - %m%n\n"
    )


def _url(where: Instance) -> str:
    return f"http://{where.address}:{where.port}"
