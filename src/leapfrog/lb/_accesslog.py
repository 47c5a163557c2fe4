"""Access logs from HAProxy and nginx, received on a Unix datagram socket, as events."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["HAPROXY_LOG_FORMAT", "AccessLog", "parse_access_line"]

_HAPROXY_TAG = "lf1"
_SO_RCVBUFFORCE = 33  # Linux's value; the socket module does not name it
_FIELDS = (
    "client",
    "status",
    "bytes",
    "duration_ms",
    "backend",
    "server",
    "retries",
    "termination",
    "method",
    "path",
)
HAPROXY_LOG_FORMAT = "|".join(
    [_HAPROXY_TAG, "%ci", "%ST", "%B", "%Ta", "%b", "%s", "%rc", "%ts", "%HM", "%HU"]
)
"""Fields split by `|`, the URI last (it may hold a `|`)."""

Event = dict[str, Any]


def _number(text: str) -> int | float | str:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def parse_access_line(raw: str) -> Event | None:
    """One datagram, HAProxy's raw format or nginx's syslog with a JSON body, as an event."""
    text = raw.strip()
    if text.startswith(_HAPROXY_TAG + "|"):
        values = text.split("|", len(_FIELDS))[1:]
        if len(values) != len(_FIELDS):
            return None
        fields: Event = {k: _number(v) for k, v in zip(_FIELDS, values, strict=True)}
        fields["path"] = values[-1]
        fields["retries"] = values[6]
    else:
        start = text.find("{")
        if start < 0:
            return None
        try:
            fields = json.loads(text[start:])
        except json.JSONDecodeError:
            return None
        if not isinstance(fields, dict):
            return None
        if isinstance(fields.get("duration_ms"), int | float):
            fields["duration_ms"] = round(fields["duration_ms"] * 1000, 3)
    event: Event = {
        "level": "info",
        "kind": "access",
        "message": f"{fields.get('method')} {fields.get('path')} {fields.get('status')}",
    }
    event.update(fields)
    return event


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, sink: Callable[[Event], None]) -> None:
        self.sink = sink

    def datagram_received(self, data: bytes, addr: Any) -> None:
        event = parse_access_line(data.decode("utf-8", errors="replace"))
        if event is not None:
            self.sink(event)


class AccessLog:
    """Binds `path` and hands every parsed line to `sink`."""

    def __init__(self, path: Path, sink: Callable[[Event], None]) -> None:
        self.path = path
        self.sink = sink
        self._transport: asyncio.BaseTransport | None = None

    async def start(self) -> None:
        self.path.unlink(missing_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(str(self.path))
        # Room for bursts: a full buffer makes the proxy drop lines. As root the limit of
        # net.core.rmem_max does not apply (SO_RCVBUFFORCE).
        try:
            sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, 1 << 23)
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 23)
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(self.sink), sock=sock
        )

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
        with contextlib.suppress(OSError):
            self.path.unlink()
