"""The backup scheduler: leapfrog's own process that backs up, verifies and prunes every
store whose `backups:` declares a `schedule` (see docs/backup.md).

It is `python -m leapfrog backup scheduler` (`leapfrog.backup.scheduler`). It acts on the
stack as `leapfrog backup` does, so it declares `acts_on_stack`: the runtime hands it
the stack file (`LEAPFROG_STACK_FILE`) and runs it as the stack's owner. Its health is
its loop's own account (the next run of each store); its `/metrics` carry each store's
last success, duration, bytes and verification; its JSON lines are the backup events.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, ClassVar

import httpx
from pydantic import Field

import leapfrog
from leapfrog.components._backups_kube import OPERATOR, crds, operator_objects
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
from leapfrog.telemetry import Sample, prometheus_samples

__all__ = ["BackupScheduler", "BackupSchedulerOptions"]


class BackupSchedulerOptions(ComponentOptions):
    """Backups on schedule: each store's `backups.schedule` (backup, verify, prune), run by
    leapfrog (docs/backup.md)."""

    port: int = Field(
        9612,
        ge=1,
        le=65535,
        description="Port of the scheduler's /health and /metrics (on Kubernetes: the "
        "backup operator's).",
    )
    deadline: int = Field(
        6 * 3600, ge=60, description="Seconds a scheduled backup, verify or prune may take."
    )
    stall_after: int = Field(
        300, ge=10, description="A scheduled run without progress for this many seconds fails."
    )
    operator_interval: int = Field(
        30,
        ge=1,
        le=3600,
        description="Kubernetes: seconds between the backup operator's looks at each "
        "BackupSchedule (a due time is started within this).",
    )


class BackupScheduler(Component[BackupSchedulerOptions]):
    kind = "backups"
    options_model = BackupSchedulerOptions
    default_port = 9612
    description = "backups of the stack's stores on their schedules (leapfrog's own)"
    runs_leapfrog: ClassVar[bool] = True
    acts_on_stack: ClassVar[bool] = True
    host_network: ClassVar[bool] = True

    def install(
        self, options: BackupSchedulerOptions, cache_dir: Path, progress: Progress
    ) -> Installation:
        return Installation(version=leapfrog.__version__, home=Path(sys.executable).parent)

    def process(
        self, options: BackupSchedulerOptions, installation: Installation, where: Instance
    ) -> Process:
        argv = [
            sys.executable, "-m", "leapfrog", "backup", "scheduler",
            "--listen", f"{where.address}:{self.port(options)}",
            "--data-dir", str(where.data_dir),
            "--deadline", str(options.deadline),
            "--stall-after", str(options.stall_after),
        ]  # fmt: skip
        return Process(
            argv=tuple(argv),
            env={"PYTHONUNBUFFERED": "1"},
            # A run cut short is recorded `failed` by the next look at the history, and
            # its objects (no manifest) removed by the next run: stopping loses nothing.
            stop_grace_period=10.0,
            start_timeout=60.0,
        )

    async def health(self, options: BackupSchedulerOptions, where: Instance) -> Health:
        url = f"http://{where.address}:{self.port(options)}/health"
        try:
            async with httpx.AsyncClient(timeout=2.0) as client:
                response = await client.get(url)
            answer: dict[str, Any] = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            return Health(False, f"GET /health: {exc or type(exc).__name__}")
        return Health(response.status_code == 200, str(answer.get("detail", "")))

    async def metrics(self, options: BackupSchedulerOptions, where: Instance) -> list[Sample]:
        """Its /metrics page: per store last success, duration, bytes, verification."""
        url = f"http://{where.address}:{self.port(options)}/metrics"
        async with httpx.AsyncClient(timeout=5.0) as client:
            response = await client.get(url)
        response.raise_for_status()
        return prometheus_samples(response.text)

    def connection_env(self, options: BackupSchedulerOptions, where: Instance) -> dict[str, str]:
        """Where its /health and /metrics are (`LEAPFROG_BACKUPS_URL`)."""
        return {"LEAPFROG_BACKUPS_URL": f"http://{where.address}:{self.port(options)}"}

    def render_kubernetes(self, options: BackupSchedulerOptions, kube: KubeContext) -> KubeRender:
        """On Kubernetes the scheduler is the backup operator: the `leapfrog.dev` CRDs and
        the operator's Deployment with its RBAC. Each store's `backups:` becomes a
        `BackupSchedule`, rendered with the store (`_backups_kube.backup_schedule`).
        The operator's /health and /metrics are on `port` of its pod, behind its Service
        `backup-operator`: services get that address as `LEAPFROG_BACKUPS_URL`, as they
        get the scheduler's locally."""
        port = self.port(options)
        objects = [*crds(kube), *operator_objects(kube, options.operator_interval, port)]
        url = f"http://{OPERATOR}.{kube.namespace}.svc:{port}"
        env = [{"name": "LEAPFROG_BACKUPS_URL", "value": url}]
        return KubeRender(objects, env)
