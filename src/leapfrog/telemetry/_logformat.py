"""How a program writes its log, and its lines turned into events.

A `LogFormat` says which line starts a record (the others continue it: a stack trace,
a wrapped SQL statement) and what a record's fields are. `LogAssembler` feeds lines
through a format and hands out whole records as events in the shape of
`JsonFormatter`'s: `level`, `logger`, `message` (and `exception` for the continuation
lines of a record that has a traceback). The collector adds ts, service, instance, host.

A line that is a JSON object is taken as an event of its own in every format (`level`,
`message`, `logger` read under their common names), except one that names the
instance itself (`"instance": "<its name>"`): leapfrog's own telemetry wrote it and
already shipped it (the SDK's console, the load balancer's access log).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

__all__ = [
    "HAPROXY",
    "INFLUXDB_LOGFMT",
    "LOG4J_FLINK",
    "LOG4J_KAFKA",
    "LOG4J_OPENSEARCH",
    "LOGBACK_ZOOKEEPER",
    "PLAIN",
    "POSTGRES",
    "PYTHON_LOGGING",
    "LogAssembler",
    "LogFormat",
    "level_name",
]

Event = dict[str, object]

_LEVELS = {
    "trace": "debug",
    "finest": "debug",
    "fine": "debug",
    "debug": "debug",
    "debug1": "debug",
    "debug2": "debug",
    "debug3": "debug",
    "debug4": "debug",
    "debug5": "debug",
    "info": "info",
    "information": "info",
    "notice": "info",
    "log": "info",
    "statement": "info",
    "detail": "info",
    "hint": "info",
    "context": "info",
    "warn": "warning",
    "warning": "warning",
    "error": "error",
    "err": "error",
    "severe": "error",
    "alert": "critical",
    "crit": "critical",
    "critical": "critical",
    "fatal": "critical",
    "panic": "critical",
    "emerg": "critical",
}

MAX_RECORD_LINES = 500
"""A record longer than this is cut: one runaway trace must not hold the collector's memory."""


def level_name(word: object, default: str = "info") -> str:
    """`WARN`, `Warning`, `LOG`, `FATAL`... as one of debug, info, warning, error, critical."""
    if isinstance(word, int) and not isinstance(word, bool):
        # Python's numeric levels (10, 20, ...), as some JSON loggers write them.
        return {10: "debug", 20: "info", 30: "warning", 40: "error", 50: "critical"}.get(
            word, default
        )
    if not isinstance(word, str):
        return default
    return _LEVELS.get(word.strip().lower(), default)


@dataclass(frozen=True)
class LogFormat:
    """One program's log layout.

    `start`: a line matching it (or one of them) begins a record; its named groups
    `level`, `logger`, `message` (and `time`: the program's own time stamp, kept as
    `logged_at`) are the record's fields. A line that does not match continues the
    record before it, or is a record of its own (the line as message) when none is open.
    `continuation`: the field the further lines of a record go to: `exception` (a stack
    trace) or `message` (a statement wrapped over lines).
    `continues`: for formats without a start pattern, whether a line continues the
    record before it (indented lines, a traceback's last line).
    """

    name: str
    start: re.Pattern[str] | tuple[re.Pattern[str], ...] | None = None
    continuation: str = "exception"
    continues: Callable[[str, list[str]], bool] | None = None
    default_logger: str = ""
    fixed: Mapping[str, object] = field(default_factory=dict)
    """Fields every event of this format carries (`source: audit`)."""

    def begins(self, line: str, open_lines: list[str]) -> bool:
        if _is_json_object(line):
            return True
        if self.start is not None:
            return self._match(line) is not None
        if not open_lines:
            return True
        return not (self.continues is not None and self.continues(line, open_lines))

    @property
    def patterns(self) -> tuple[re.Pattern[str], ...]:
        """The start patterns, to build a format from others' (a proxy's and a renderer's)."""
        return (self.start,) if isinstance(self.start, re.Pattern) else self.start or ()

    def _match(self, line: str) -> re.Match[str] | None:
        for pattern in self.patterns:
            match = pattern.match(line)
            if match is not None:
                return match
        return None

    def fields(self, first: str) -> Event:
        match = self._match(first)
        if match is None:
            event: Event = {
                "level": _leading_level(first),
                "logger": self.default_logger,
                "message": first,
            }
            event.update(self.fixed)
            return event
        groups = match.groupdict()
        event = {
            "level": level_name(groups.get("level") or "", "info"),
            "logger": (groups.get("logger") or self.default_logger).strip(),
            "message": (groups.get("message") or "").rstrip(),
        }
        if groups.get("time"):
            event["logged_at"] = groups["time"]
        event.update(self.fixed)
        return event


def _is_json_object(line: str) -> bool:
    text = line.strip()
    return text.startswith("{") and text.endswith("}")


_LEADING_LEVEL = re.compile(
    r"^\W{0,3}(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|CRITICAL|FATAL|PANIC)\b"
)


def _leading_level(line: str) -> str:
    """A plain line that starts with a level word (`ERROR: ...`, `[WARN] ...`) has it."""
    match = _LEADING_LEVEL.match(line)
    return level_name(match.group(1)) if match else "info"


def _indented_or_trace(line: str, open_lines: list[str]) -> bool:
    """Plain output: indented lines continue a record, and so do a Java trace's `Caused
    by:` and a Python traceback's closing line (`ValueError: ...`) after its frames."""
    if line[:1] in (" ", "\t") or line.startswith("Caused by: "):
        return True
    in_traceback = any(
        one.startswith("Traceback (most recent call last)") for one in open_lines[-200:]
    )
    last = open_lines[-1]
    return in_traceback and last[:1] in (" ", "\t")


PLAIN = LogFormat("plain", continues=_indented_or_trace)
"""Any program's output: a line is a record, JSON objects parsed, traces kept whole."""

LOG4J_KAFKA = LogFormat(
    "log4j",
    re.compile(
        r"^\[(?P<time>\d{4}-\d\d-\d\d[ T][\d:,.]+)\] (?P<level>[A-Z]+) (?P<message>.*?)"
        r"(?: \((?P<logger>[\w.$-]+)\))?$"
    ),
)
"""Kafka's log4j2 pattern `[%d] %p %m (%c)%n` (components/_kafka_config.py)."""

LOG4J_FLINK = LogFormat(
    "log4j-flink",
    re.compile(
        r"^(?P<time>\d{4}-\d\d-\d\d [\d:,.]+) (?P<level>[A-Z]+) +(?P<logger>[\w.$-]+) - "
        r"(?P<message>.*)$"
    ),
)
"""Flink's processes as leapfrog configures log4j2 (components/_flink_config.py):
`%d %-5p %c - [<process>] %m%n`, the process (`jobmanager`, `taskmanager-2`) leading the
message."""

LOGBACK_ZOOKEEPER = LogFormat(
    "logback",
    re.compile(
        r"^(?P<time>\d{4}-\d\d-\d\d[ T][\d:,.]+) \[myid:[^\]]*\] (?P<level>[A-Z]+) +"
        r"\[[^\]]*\] (?P<logger>[\w.$-]+): (?P<message>.*)$"
    ),
)
"""ZooKeeper's logback pattern `%d{ISO8601} [myid:%X{myid}] %-5level [%t] %logger{0}: %msg`."""

POSTGRES = LogFormat(
    "postgres",
    re.compile(
        r"^(?P<time>\d{4}-\d\d-\d\d [\d:.]+(?: [A-Z]+)?) \[\d+\] (?:\S*@\S* )?"
        r"(?P<level>[A-Z0-9]+): +(?P<message>.*)$"
    ),
    continuation="message",
    default_logger="postgres",
)
"""`log_line_prefix = '%m [%p] %q%u@%d '`; a statement's further lines start with a tab."""

_HAPROXY = re.compile(r"^\[(?P<level>[A-Z]+)\] +(?:\d+/\d+ +)?\(\d+\) : (?P<message>.*)$")
_NGINX = re.compile(
    r"^(?P<time>\d{4}/\d\d/\d\d [\d:]{8}) \[(?P<level>[a-z]+)\] [\d#]+: (?:\*\d+ )?"
    r"(?P<message>.*)$"
)

HAPROXY = LogFormat("haproxy", (_HAPROXY, _NGINX), continuation="message", default_logger="lb")
"""HAProxy's own messages on stderr (`[NOTICE]   (12) : New worker (13) forked`) and
nginx's error log (`2026/12/05 22:31:01 [notice] 12#12: start worker processes`)."""

LOG4J_OPENSEARCH = LogFormat(
    "log4j",
    re.compile(
        r"^\[(?P<time>\d{4}-\d\d-\d\d[ T][\d:,.]+)\]\[(?P<level>[A-Z]+) *\]"
        r"\[(?P<logger>[^\]]+)\] (?P<message>.*)$"
    ),
)
"""OpenSearch's layout as leapfrog configures it: `[%d{ISO8601}][%-5p][%c{1.}] %m%n`."""

_LOGFMT_REST = r"(?:.*? service=(?P<logger>[^\s\"]+))?.*$"
INFLUXDB_LOGFMT = LogFormat(
    "logfmt",
    (
        re.compile(
            r'^ts=(?P<time>\S+) lvl=(?P<level>\w+) msg="(?P<message>(?:[^"\\]|\\.)*)"'
            + _LOGFMT_REST
        ),
        re.compile(r"^ts=(?P<time>\S+) lvl=(?P<level>\w+) msg=(?P<message>\S*)" + _LOGFMT_REST),
    ),
)
"""InfluxDB 1.x's logfmt lines:
`ts=... lvl=info msg="Listening on HTTP" log_id=... service=httpd`."""

PYTHON_LOGGING = LogFormat(
    "python",
    re.compile(r"^(?P<time>\d{4}-\d\d-\d\d [\d:,.]+) (?P<level>[A-Z]+) (?P<message>.*)$"),
)
"""`logging.basicConfig(format="%(asctime)s %(levelname)s %(message)s")`, as the
catalog and the load balancer's renderer log."""


class LogAssembler:
    """Lines in, events out: a record is handed out when the next one starts, or by
    `flush()` (the collector calls it once a file has been quiet for a moment)."""

    def __init__(self, log_format: LogFormat, instance: str = "") -> None:
        self.format = log_format
        self.instance = instance
        self._open: list[str] = []

    def feed(self, line: str) -> list[Event]:
        """Events completed by this line (usually none or one)."""
        line = line.rstrip("\r\n")
        if not line.strip() or line.startswith("--- leapfrog: "):
            return []  # blank lines, and the supervisor's own start markers
        if self._open and not self.format.begins(line, self._open):
            if len(self._open) < MAX_RECORD_LINES:
                self._open.append(line)
            return []
        done = self.flush()
        self._open = [line]
        if _is_json_object(line):
            done += self.flush()  # a JSON object is a record on its own
        return done

    def flush(self) -> list[Event]:
        if not self._open:
            return []
        first, rest = self._open[0], self._open[1:]
        self._open = []
        if _is_json_object(first):
            event = self._json_event(first)
            return [] if event is None else [event]
        event = self.format.fields(first)
        if rest:
            if self.format.continuation == "message":
                event["message"] = "\n".join([str(event["message"]), *rest])
            else:
                event["exception"] = "\n".join(rest)
        return [event]

    def _json_event(self, text: str) -> Event | None:
        try:
            data = json.loads(text)
        except ValueError:
            return self.format.fields(text)
        if not isinstance(data, dict):
            return self.format.fields(text)
        if self.instance and data.get("instance") == self.instance:
            return None  # leapfrog's telemetry in that process shipped it already
        return json_event(data)


def json_event(data: Mapping[str, object]) -> Event:
    """A JSON log object in the event shape: level, logger and message under their
    common names (`levelname`, `severity`, `msg`, `name`...), every other key kept."""
    event: Event = {}
    level = next((data[k] for k in ("level", "levelname", "severity", "lvl") if k in data), None)
    message = next((data[k] for k in ("message", "msg", "text") if k in data), None)
    logger = next((data[k] for k in ("logger", "name", "logger_name") if k in data), None)
    event["level"] = level_name(level)
    event["logger"] = logger if isinstance(logger, str) else ""
    event["message"] = message if isinstance(message, str) else json.dumps(message)
    taken = {"level", "levelname", "severity", "lvl", "message", "msg", "text"}
    taken |= {"logger", "name", "logger_name"}
    for key, value in data.items():
        if key not in taken and key not in event:
            event[key] = value
    return event
