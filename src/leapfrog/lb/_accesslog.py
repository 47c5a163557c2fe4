"""Access logs from HAProxy and nginx, received on a Unix datagram socket, as events."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Callable
from json.encoder import encode_basestring_ascii as _quote
from pathlib import Path
from typing import Any

__all__ = ["HAPROXY_LOG_FORMAT", "AccessLog", "haproxy_access_json", "parse_access_line"]

_HAPROXY_TAG = "lf1"
_SO_RCVBUFFORCE = 33  # Linux's value; the socket module does not name it
_FIELDS = (
    "client",
    "status",
    "bytes",
    "duration_ms",
    "backend",
    "service",
    "server",
    "retries",
    "termination",
    "method",
    "path",
)
HAPROXY_LOG_FORMAT = "|".join(
    [
        *(_HAPROXY_TAG, "%ci", "%ST", "%B", "%Ta", "%b", "%[var(txn.service)]"),
        *("%s", "%rc", "%ts", "%HM", "%HU"),
    ]
)
"""Fields split by `|`, the URI last (it may hold a `|`). The default template's backends
are a pool (be1, be2, ...); the service a request went to is its variable txn.service,
which then names the event's backend."""

Event = dict[str, Any]


_NUMERIC = frozenset({"status", "bytes", "duration_ms"})


def _haproxy_fields(text: str) -> Event | None:
    values = text.split("|", len(_FIELDS))
    if len(values) != len(_FIELDS) + 1:
        return None
    fields: Event = dict(zip(_FIELDS, values[1:], strict=True))
    service = fields.pop("service")
    if service not in ("-", ""):
        fields["backend"] = service
    for name in _NUMERIC:
        # HAProxy writes nothing where it has no value: the text stays.
        with contextlib.suppress(ValueError):
            fields[name] = int(fields[name])
    return fields


def _json_number(text: str) -> str:
    try:
        return str(int(text))
    except ValueError:
        return _quote(text)  # HAProxy wrote no number (`-`, or nothing): kept as text


def haproxy_access_json(raw: str) -> str | None:
    """The fields of one HAProxy line as the tail of a JSON object (`,"client":...}`),
    built straight from the text: the same event `parse_access_line` gives, for a third
    of the cost - this runs for every request the proxy serves."""
    values = raw.rstrip().split("|", len(_FIELDS))
    if len(values) != len(_FIELDS) + 1 or values[0] != _HAPROXY_TAG:
        return None
    _, client, status, size, duration, backend, service, server, retries, ending, method, path = (
        values
    )
    if service not in ("-", ""):
        backend = service
    return (
        f',"client":{_quote(client)},"status":{_json_number(status)}'
        f',"bytes":{_json_number(size)},"duration_ms":{_json_number(duration)}'
        f',"backend":{_quote(backend)},"server":{_quote(server)}'
        f',"retries":{_quote(retries)},"termination":{_quote(ending)}'
        f',"method":{_quote(method)},"path":{_quote(path)}'
        f',"level":"info","kind":"access","message":{_quote(f"{method} {path} {status}")}}}'
    )


def parse_access_line(raw: str) -> Event | None:
    """One datagram, HAProxy's raw format or nginx's syslog with a JSON body, as an event."""
    text = raw.strip()
    if text.startswith(_HAPROXY_TAG + "|"):
        fields = _haproxy_fields(text)
        if fields is None:
            return None
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
    fields["level"] = "info"
    fields["kind"] = "access"
    fields["message"] = f"{fields.get('method')} {fields.get('path')} {fields.get('status')}"
    return fields


class AccessLog:
    """Binds `path` and hands every parsed line to `sink`, from a thread of its own: a
    blocking receive loop costs far less per line than an event-loop callback per
    datagram, and the event loop stays free for the catalog."""

    def __init__(
        self,
        path: Path,
        sink: Callable[[Event], None],
        fast: Callable[[str], bool] | None = None,
    ) -> None:
        """`fast`, when given, is offered each line first and returns True when it took
        it (HAProxy's lines, written without building an event)."""
        self.path = path
        self.sink = sink
        self.fast = fast
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

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
        sock.settimeout(0.5)  # so that close() is noticed
        self._sock = sock
        self._thread = threading.Thread(target=self._pump, name="access-log", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        sock = self._sock
        while sock is not None and sock.fileno() >= 0:
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            text = data.decode("utf-8", errors="replace")
            if self.fast is not None and self.fast(text):
                continue
            event = parse_access_line(text)
            if event is not None:
                self.sink(event)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
        if self._thread is not None:
            self._thread.join(timeout=2)
        with contextlib.suppress(OSError):
            self.path.unlink()
