"""What the console reads and where: its settings, from the command line and the
environment the runtime hands a component."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ConsoleSettings"]


@dataclass(frozen=True)
class ConsoleSettings:
    catalog_url: str = "http://127.0.0.1:8500"
    opensearch_url: str | None = None
    influxdb_url: str | None = None
    flink_url: str | None = None
    logs_index: str = "logs"
    metrics_database: str = "leapfrog"
    state_dir: Path | None = None
    """The stack's state directory (backup history); None outside a stack."""
    control_socket: Path | None = None
    """The supervisor's control socket (units and instances); None outside a stack."""
    htmx_dir: Path | None = None
    uplot_dir: Path | None = None
    stack: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **given: object) -> ConsoleSettings:
        """Settings from the runtime's environment; keyword arguments win."""
        env = os.environ if env is None else env
        addr = env.get("CONSUL_HTTP_ADDR", "127.0.0.1:8500")
        found: dict[str, object] = {
            "catalog_url": addr if "://" in addr else f"http://{addr}",
            "opensearch_url": env.get("OPENSEARCH_URL") or None,
            "influxdb_url": env.get("INFLUXDB_URL") or None,
            "flink_url": env.get("FLINK_URL") or env.get("FLINK_REST_URL") or None,
            "state_dir": Path(env["LEAPFROG_STATE_DIR"]) if env.get("LEAPFROG_STATE_DIR") else None,
            "control_socket": (
                Path(env["LEAPFROG_CONTROL_SOCKET"]) if env.get("LEAPFROG_CONTROL_SOCKET") else None
            ),
            "stack": env.get("LEAPFROG_STACK", ""),
        }
        found.update({k: v for k, v in given.items() if v is not None})
        return cls(**found)  # type: ignore[arg-type]
