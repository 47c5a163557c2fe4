"""What the stack file says about telemetry beyond what every part ships by itself: the
machine's own logs, and the services whose Prometheus page is scraped."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from leapfrog.spec._base import Duration, Model


class HostLogsSpec(Model):
    """The machine's own logs, shipped to the `logs` topic beside the stack's (locally by
    the supervisor; on Kubernetes by a Fluent Bit DaemonSet on every node). A source the
    machine lacks, or that leapfrog may not read, is reported once and skipped."""

    kmsg: bool = Field(False, description="The kernel ring buffer (/dev/kmsg; root or CAP_SYSLOG).")
    audit: bool = Field(False, description="auditd's log (/var/log/audit/audit.log).")
    journal: bool = Field(
        False, description="The systemd journal (`journalctl -o json -f`), when systemd runs."
    )
    syslog: bool = Field(False, description="/var/log/syslog, as rsyslog writes it.")


class ScrapeSpec(Model):
    """A Prometheus page of the service's instances, read every interval and shipped to the
    `metrics` topic as line protocol (for services that do not use the SDK, whose
    metrics ship by themselves)."""

    path: str = Field("/metrics", description="Path of the page on each instance's address.")
    interval: Duration = Field(15.0, description="Time between two reads.")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: object) -> object:
        # `scrape: /metrics`, or `scrape: true` for the default path.
        if value is True:
            return {}
        if isinstance(value, str):
            return {"path": value}
        return value

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"expected a path starting with '/', such as /{value}")
        return value

    @field_validator("interval")
    @classmethod
    def _sane(cls, value: float) -> float:
        if not 1 <= value <= 3600:
            raise ValueError("expected a duration between 1s and 1h")
        return value
