"""What a shipper is configured with, read from the environment a service is started in."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from leapfrog.shared.errors import LeapfrogError

__all__ = ["KAFKA_OPTION_PREFIX", "ShipperSettings"]

KAFKA_OPTION_PREFIX = "LEAPFROG_KAFKA_"
"""`LEAPFROG_KAFKA_SASL_PASSWORD=x` becomes the librdkafka option `sasl.password=x`."""

# Options the shipper's guarantees depend on: an extra option may not change them.
_OWNED = frozenset({"enable.idempotence", "acks", "bootstrap.servers", "error_cb", "logger"})


@dataclass(frozen=True)
class ShipperSettings:
    """Everything a `LogShipper` needs. `bootstrap_servers=None` disables shipping."""

    service: str
    instance: str
    host: str = field(default_factory=socket.gethostname)
    stack: str = ""
    """The stack the sender belongs to (LEAPFROG_STACK); a tag of every event and metric."""
    bootstrap_servers: str | None = None
    log_topic: str = "logs"
    metrics_topic: str = "metrics"
    buffer_size: int = 10_000
    spool_dir: Path | None = None
    spool_max_bytes: int = 256 * 1024 * 1024
    spool_segment_bytes: int = 16 * 1024 * 1024
    spool_fsync_interval: float = 1.0
    compression: str = "lz4"
    linger_ms: int = 20
    detect_timeout: float = 5.0
    message_timeout_ms: int = 300_000
    kafka_options: Mapping[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.buffer_size < 1:
            raise LeapfrogError(
                "telemetry: the log buffer must hold at least 1 event",
                hint="set LEAPFROG_LOG_BUFFER to 1 or more",
            )
        if self.spool_segment_bytes < 4096 or self.spool_max_bytes < self.spool_segment_bytes:
            raise LeapfrogError(
                "telemetry: the spool needs segments of at least 4096 bytes and a size bound "
                "of at least one segment",
                hint="check LEAPFROG_SPOOL_SEGMENT_BYTES and LEAPFROG_SPOOL_MAX_BYTES",
            )
        owned = sorted(_OWNED & set(self.kafka_options))
        if owned:
            raise LeapfrogError(
                f"telemetry: the Kafka option {owned[0]} is set by the shipper itself",
                hint=f"remove {KAFKA_OPTION_PREFIX}{owned[0].upper().replace('.', '_')}",
            )

    @property
    def enabled(self) -> bool:
        return bool(self.bootstrap_servers)

    def with_options(self, **changes: object) -> ShipperSettings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(
        cls,
        *,
        service: str,
        instance: str,
        spool_dir: Path | None = None,
        host: str | None = None,
        environ: Mapping[str, str] | None = None,
        **overrides: object,
    ) -> ShipperSettings:
        """Settings from the environment (see docs/telemetry.md for every variable);
        keyword `overrides` win over the environment."""
        env = os.environ if environ is None else environ
        spool = env.get("LEAPFROG_SPOOL_DIR")
        values: dict[str, object] = {
            "service": service,
            "instance": instance,
            "host": host or socket.gethostname(),
            "stack": env.get("LEAPFROG_STACK", ""),
            "bootstrap_servers": env.get("KAFKA_BOOTSTRAP_SERVERS") or None,
            "log_topic": env.get("LEAPFROG_LOG_TOPIC") or "logs",
            "metrics_topic": env.get("LEAPFROG_METRICS_TOPIC") or "metrics",
            "buffer_size": _int(env, "LEAPFROG_LOG_BUFFER", 10_000),
            "spool_dir": Path(spool) if spool else spool_dir,
            "spool_max_bytes": _int(env, "LEAPFROG_SPOOL_MAX_BYTES", 256 * 1024 * 1024),
            "spool_segment_bytes": _int(env, "LEAPFROG_SPOOL_SEGMENT_BYTES", 16 * 1024 * 1024),
            "spool_fsync_interval": _int(env, "LEAPFROG_SPOOL_FSYNC_MS", 1000) / 1000,
            "compression": env.get("LEAPFROG_LOG_COMPRESSION") or "lz4",
            "linger_ms": _int(env, "LEAPFROG_LOG_LINGER_MS", 20),
            "detect_timeout": _int(env, "LEAPFROG_LOG_DETECT_MS", 5000) / 1000,
            "message_timeout_ms": _int(env, "LEAPFROG_LOG_MESSAGE_TIMEOUT_MS", 300_000),
            "kafka_options": {
                name[len(KAFKA_OPTION_PREFIX) :].lower().replace("_", "."): value
                for name, value in env.items()
                if name.startswith(KAFKA_OPTION_PREFIX)
            },
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        value = -1
    if value < 0:
        raise LeapfrogError(
            f"telemetry: {name}={text!r} is not a whole number",
            hint=f"set {name} to a number such as {default}, or unset it",
        )
    return value
