"""Log records as events: one flat JSON object per record, safe for any `extra` value."""

from __future__ import annotations

import json
import logging
import math
import socket
import time
from collections.abc import Mapping
from typing import Any

__all__ = ["JsonFormatter", "encode_event", "rfc3339"]

# Attributes every LogRecord has: anything else on a record came from `extra=`.
_RECORD_ATTRS = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None)).keys()
    | {"message", "asctime", "taskName"}
)
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
_MAX_DEPTH = 20

# One strftime per second, the hot path only adds microseconds. One tuple, so that
# threads replacing it at once never pair one second with another's text.
_last_second: tuple[int, str] = (-1, "")


def rfc3339(created: float) -> str:
    """`2026-11-25T17:06:42.123456Z`: UTC with microseconds."""
    global _last_second
    whole = int(created)
    second, text = _last_second
    if whole != second:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
        _last_second = (whole, text)
    return f"{text}.{int((created - whole) * 1_000_000):06d}Z"


def encode_event(event: Mapping[str, object]) -> bytes:
    """UTF-8 JSON of one event; values JSON cannot hold become their repr. Never raises."""
    try:
        return _encode(event).encode()
    except (TypeError, ValueError, RecursionError):
        return _encode(_safe(event, 0)).encode()


def _safe(value: object, depth: int) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if depth >= _MAX_DEPTH:
        return _repr(value)
    if isinstance(value, Mapping):
        return {str(k): _safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_safe(v, depth + 1) for v in value]
    return _repr(value)


def _repr(value: object) -> str:
    try:
        return repr(value)
    except Exception:  # a broken __repr__ must not lose the event
        return f"<unrepresentable {type(value).__name__}>"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, message, logger, (stack,) service, instance,
    host, then every `extra=` field, and `exception`/`stack_info` when the record has them."""

    def __init__(
        self, *, service: str, instance: str, host: str | None = None, stack: str = ""
    ) -> None:
        super().__init__()
        self.service = service
        self.instance = instance
        self.host = host or socket.gethostname()
        self.stack = stack

    def event(self, record: logging.LogRecord) -> dict[str, object]:
        event: dict[str, object] = {
            "ts": rfc3339(record.created),
            "level": record.levelname.lower(),
            "message": record.getMessage(),
            "logger": record.name,
        }
        if self.stack:
            event["stack"] = self.stack
        event |= {
            "service": self.service,
            "instance": self.instance,
            "host": self.host,
        }
        for key, value in record.__dict__.items():
            # The fixed fields win over an extra of the same name.
            if key not in _RECORD_ATTRS and key not in event:
                event[key] = value
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = self.formatException(record.exc_info)
            event["exception"] = record.exc_text
        elif record.exc_text:
            event["exception"] = record.exc_text
        if record.stack_info:
            event["stack_info"] = self.formatStack(record.stack_info)
        return event

    def format(self, record: logging.LogRecord) -> str:
        return encode_event(self.event(record)).decode()
