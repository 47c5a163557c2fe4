"""Where the load balancer's events go: JSON lines on stdout (the supervisor keeps them
as this unit's log) and, when KAFKA_BOOTSTRAP_SERVERS is set, the Kafka `logs` topic
through leapfrog.telemetry, beside every other service's logs.

Access events come at the proxy's request rate, so stdout is written in blocks and
flushed every 100 ms rather than once per line."""

from __future__ import annotations

import asyncio
import io
import json
import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

from leapfrog.lb._accesslog import haproxy_access_json
from leapfrog.telemetry import LogShipper, ShipperSettings

__all__ = ["EventSink"]

FLUSH_EVERY = 0.1
_encode = json.JSONEncoder(separators=(",", ":"), default=str).encode


_second: tuple[int, str] = (-1, "")


def _timestamp(now: float) -> str:
    """RFC 3339 in UTC with microseconds; the formatted second is kept (events come in
    thousands per second)."""
    global _second
    whole = int(now)
    if _second[0] != whole:
        _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return f"{_second[1]}.{int((now - whole) * 1e6):06d}Z"


class EventSink:
    def __init__(self, instance: str, spool_dir: Path | None, stream: io.TextIOBase | None = None):
        self._lock = threading.Lock()
        self.fixed = {"service": "lb", "instance": instance, "host": socket.gethostname()}
        if os.environ.get("LEAPFROG_STACK"):
            self.fixed["stack"] = os.environ["LEAPFROG_STACK"]
        self.out = stream or open(  # noqa: SIM115 - kept open for the process's life
            sys.stdout.fileno(), "w", buffering=1 << 16, encoding="utf-8", closefd=False
        )
        fixed = "".join(f",{_encode(k)}:{_encode(v)}" for k, v in self.fixed.items())
        self._head = '{"ts":"'
        self._head_rest = '","logger":"lb.access"' + fixed
        settings = ShipperSettings.from_env(service="lb", instance=instance, spool_dir=spool_dir)
        self.shipper = LogShipper(settings) if settings.enabled else None
        if self.shipper is not None:
            self.shipper.start()

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event.get("kind")
        full: dict[str, object] = {
            "ts": _timestamp(time.time()),
            "logger": "lb.access" if kind == "access" else "lb",
        }
        full.update(self.fixed)
        full.update(event)
        line = _encode(full)
        with self._lock:  # access lines come from their own thread
            self.out.write(line + "\n")
            if kind != "access":
                self.out.flush()  # rare and worth seeing at once
        if self.shipper is not None:
            # Encoded once, here: handing the dict over would encode it again.
            self.shipper.ship_to(self.shipper.settings.log_topic, None, line.encode())

    def access_text(self, raw: str) -> bool:
        """Write and ship one HAProxy access line without building a dict; False when it
        is not one (nginx's lines go through `__call__`)."""
        tail = haproxy_access_json(raw)
        if tail is None:
            return False
        line = self._head + _timestamp(time.time()) + self._head_rest + tail
        with self._lock:
            self.out.write(line + "\n")
        if self.shipper is not None:
            self.shipper.ship_to(self.shipper.settings.log_topic, None, line.encode())
        return True

    async def flush_forever(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_EVERY)
            with self._lock:
                self.out.flush()

    def close(self) -> None:
        with self._lock:
            self.out.flush()
        if self.shipper is not None:
            self.shipper.close()
