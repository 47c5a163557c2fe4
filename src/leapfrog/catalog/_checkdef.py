"""Check definitions from the HTTP API (Consul's field names, Go durations) to records."""

from __future__ import annotations

from typing import Any, Literal

from leapfrog.catalog._body import BadRequest, Fields
from leapfrog.catalog._godur import format_go_duration, parse_go_duration
from leapfrog.catalog._model import Check
from leapfrog.catalog._params import parse_uint
from leapfrog.catalog.checks.api import CheckDefinition, Status

__all__ = ["parse_catalog_definition", "parse_check", "parse_status"]

_UNSUPPORTED = {
    "Args": "script",
    "ScriptArgs": "script",
    "Script": "script",
    "GRPC": "gRPC",
    "DockerContainerID": "Docker",
    "H2PING": "H2PING",
    "UDP": "UDP",
    "AliasService": "alias",
    "AliasNode": "alias",
    "OSService": "OS service",
}
_MIN_INTERVAL = 1.0  # Consul raises shorter intervals to one second
_MAX_DURATION = 10 * 365 * 86400.0


def parse_status(text: str, default: Status = "critical") -> Status:
    if text == "":
        return default
    if text in ("passing", "warning", "critical"):
        return text  # type: ignore[return-value]
    raise BadRequest(f'Invalid check status: "{text}"')


def _duration(fields: Fields, name: str, default: float = 0.0) -> float:
    value = fields.raw(name)
    if value is None or value == "":
        return default
    try:
        seconds = parse_go_duration(value)
    except ValueError as exc:
        raise BadRequest(f"Request decode failed: {name}: {exc}") from None
    if seconds < 0 or seconds > _MAX_DURATION:
        raise BadRequest(f"Invalid {name}: {value!r} is out of range (0 to 10 years)")
    return seconds


def _kind(fields: Fields) -> Literal["http", "tcp", "ttl"]:
    for name, label in _UNSUPPORTED.items():
        if fields.has(name):
            raise BadRequest(
                f"Invalid check: {label} checks are not supported by leapfrog's catalog; "
                "use HTTP, TCP or TTL"
            )
    kinds = [k for k in ("HTTP", "TCP", "TTL") if fields.has(k)]
    if not kinds:
        raise BadRequest("Invalid check: must provide one of HTTP, TCP or TTL")
    if len(kinds) > 1:
        raise BadRequest(f"Invalid check: only one of HTTP, TCP or TTL, not {' and '.join(kinds)}")
    return kinds[0].lower()  # type: ignore[return-value]


def _headers(fields: Fields) -> dict[str, tuple[str, ...]]:
    value = fields.raw("Header")
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(v, list) and all(isinstance(i, str) for i in v) for v in value.values()
    ):
        raise BadRequest("Request decode failed: Header must be an object of string lists")
    return {k: tuple(v) for k, v in value.items()}


def _shown(seconds: float, alone: bool) -> str:
    """Consul's `Interval`/`Timeout` text: a service's check leaves a zero duration empty,
    a check registered alone writes it as "0s" (both as Go prints durations)."""
    return format_go_duration(seconds) if seconds or alone else ""


def parse_check(
    fields: Fields, check_id: str, name: str, service_id: str, *, alone: bool = False
) -> tuple[Check, bool]:
    """A check record and whether to keep an existing check's status (none given).
    `alone`: registered by /v1/agent/check/register rather than with its service."""
    kind = _kind(fields)
    ttl = _duration(fields, "TTL")
    interval = _duration(fields, "Interval")
    timeout = _duration(fields, "Timeout")
    if kind == "ttl" and ttl <= 0:
        raise BadRequest("TTL must be > 0 for TTL checks")
    if kind != "ttl" and interval <= 0:
        raise BadRequest("Interval must be > 0 for HTTP or TCP checks")
    tcp = fields.text("TCP") or None
    if tcp is not None:
        host, _, port = tcp.rpartition(":")
        if not host or parse_uint(port, 65535) is None:
            raise BadRequest(f'Invalid TCP address "{tcp}": expected host:port')
    status_text = fields.text("Status")
    definition = CheckDefinition(
        check_id=check_id,
        kind=kind,
        http=fields.text("HTTP") or None,
        method=fields.text("Method") or "GET",
        header=_headers(fields),
        body=fields.text("Body"),
        tls_skip_verify=fields.boolean("TLSSkipVerify"),
        tcp=tcp,
        ttl=ttl if kind == "ttl" else None,
        interval=max(interval, _MIN_INTERVAL) if kind != "ttl" else 0.0,
        timeout=timeout or 10.0,
        success_before_passing=fields.integer("SuccessBeforePassing"),
        failures_before_warning=fields.integer("FailuresBeforeWarning"),
        failures_before_critical=fields.integer("FailuresBeforeCritical"),
        output_max_size=fields.integer("OutputMaxSize", 4096, low=0, high=1 << 20) or 4096,
    )
    deregister_after = _duration(fields, "DeregisterCriticalServiceAfter")
    check = Check(
        id=check_id,
        name=name,
        status=parse_status(status_text),
        service_id=service_id,
        notes=fields.text("Notes"),
        definition=definition,
        deregister_after=deregister_after if service_id else 0.0,
        check_type=kind,
        interval=_shown(interval, alone),
        timeout=_shown(timeout, alone),
    )
    return check, status_text == ""


_DEFINITION_TEXT = (
    "HTTP", "TLSServerName", "Method", "Body", "TCP", "UDP", "H2PING", "OSService",
    "DockerContainerID", "Shell", "GRPC", "AliasNode", "AliasService",
)  # fmt: skip
_DEFINITION_FLAGS = ("TLSSkipVerify", "DisableRedirects", "TCPUseTLS", "H2PingUseTLS", "GRPCUseTLS")
_DEFINITION_DURATIONS = ("Interval", "Timeout", "DeregisterCriticalServiceAfter")


def parse_catalog_definition(fields: Fields | None) -> dict[str, Any] | None:
    """A catalog check's `Definition` as Consul renders it back: every field omitted when
    empty, Interval/Timeout/DeregisterCriticalServiceAfter as Go duration strings, TTL in
    nanoseconds (Consul's HealthCheckDefinition JSON). Durations are read as Go duration
    strings or nanoseconds, as Consul reads them; anything else is a 400."""
    if fields is None:
        return None
    shown: dict[str, Any] = {}
    for name in _DEFINITION_DURATIONS:
        if seconds := _duration(fields, name):
            shown[name] = format_go_duration(seconds)
    if max_size := fields.integer("OutputMaxSize", 0, low=0, high=1 << 32):
        shown["OutputMaxSize"] = max_size
    for name in _DEFINITION_TEXT:
        if text := fields.text(name):
            shown[name] = text
    for name in _DEFINITION_FLAGS:
        if fields.boolean(name):
            shown[name] = True
    if header := _headers(fields):
        shown["Header"] = {k: list(v) for k, v in header.items()}
    if args := fields.str_list("ScriptArgs"):
        shown["ScriptArgs"] = list(args)
    if ttl := _duration(fields, "TTL"):
        shown["TTL"] = round(ttl * 1e9)
    return shown or None
