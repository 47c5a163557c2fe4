"""The machine's own logs: the kernel ring buffer, the systemd journal, and the formats
of syslog and auditd files (which `FileFollower` reads).

Each reader is polled (non-blocking) by the collector's thread and returns events in the
shape of `LogAssembler`'s; none of them raises for a source that is absent or
unreadable: `open()` raises OSError once, and the caller reports it once.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from leapfrog.telemetry._logformat import LogFormat

__all__ = [
    "AUDIT",
    "SYSLOG",
    "JournalReader",
    "KmsgReader",
    "current_boot_id",
    "journal_event",
    "kmsg_event",
    "systemd_running",
]

Event = dict[str, object]

SYSLOG = LogFormat(
    "syslog",
    re.compile(
        r"^(?P<time>(?:[A-Z][a-z]{2} [ \d]\d [\d:]{8})|(?:\d{4}-\d\d-\d\dT[\d:.]+\S*)) "
        r"\S+ (?P<logger>[^\s:\[]+)(?:\[\d+\])?: (?P<message>.*)$"
    ),
    fixed={"source": "syslog"},
)
"""/var/log/syslog as rsyslog writes it (traditional or RFC 3339 time stamps)."""

AUDIT = LogFormat(
    "audit",
    re.compile(r"^type=(?P<logger>\S+) msg=audit\((?P<time>[\d.]+):\d+\): ?(?P<message>.*)$"),
    fixed={"source": "audit"},
)
"""auditd's log: `type=SYSCALL msg=audit(1733437861.123:456): arch=... key=...`."""

_KMSG_LEVELS = ("critical", "critical", "critical", "error", "warning", "info", "info", "debug")
_FACILITIES = ("kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news")


def kmsg_event(record: str) -> tuple[int, Event] | None:
    """One /dev/kmsg record (`prio,seq,usec,flags;text` and ` KEY=value` lines) as
    (sequence number, event); None when it is not one."""
    head, sep, rest = record.partition(";")
    parts = head.split(",")
    if not sep or len(parts) < 3 or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    prio, seq = int(parts[0]), int(parts[1])
    text, *props = rest.rstrip("\n").split("\n")
    facility = prio >> 3
    event: Event = {
        "level": _KMSG_LEVELS[prio & 7],
        "logger": "kernel",
        "message": _unescape(text),
        "source": "kmsg",
        "facility": _FACILITIES[facility] if facility < len(_FACILITIES) else str(facility),
        "uptime_us": int(parts[2]) if parts[2].isdigit() else 0,
    }
    for prop in props:
        key, eq, value = prop.strip().partition("=")
        if eq and key:
            event[f"kmsg_{key.lower()}"] = _unescape(value)
    return seq, event


def _unescape(text: str) -> str:
    # The kernel writes non-printable bytes as \xNN.
    if "\\x" not in text:
        return text
    return re.sub(r"\\x([0-9a-f]{2})", lambda m: chr(int(m.group(1), 16)), text)


class KmsgReader:
    """The kernel ring buffer through /dev/kmsg (root, or CAP_SYSLOG), non-blocking.

    Starts at the end of the buffer, or after `after` (sequence number) when the machine
    has not rebooted since (`boot_id` unchanged), so a restarted collector neither loses
    nor repeats messages still in the buffer."""

    def __init__(
        self, path: Path = Path("/dev/kmsg"), *, after: int | None = None, boot_id: str = ""
    ) -> None:
        self.path = path
        self.boot_id = current_boot_id()
        self.last_seq = after if after is not None and boot_id == self.boot_id else None
        self._fd: int | None = None

    @property
    def mark(self) -> dict[str, object] | None:
        """Where to go on after a restart (see `after` and `boot_id`)."""
        return None if self.last_seq is None else {"seq": self.last_seq, "boot": self.boot_id}

    def open(self) -> None:
        fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        if self.last_seq is None:
            with contextlib.suppress(OSError):
                os.lseek(fd, 0, os.SEEK_END)
        self._fd = fd

    def read(self, limit: int = 2000) -> list[Event]:
        assert self._fd is not None, "open() first"
        events: list[Event] = []
        while len(events) < limit:
            try:
                data = os.read(self._fd, 16384)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno == errno.EPIPE:
                    continue  # records overwritten before we read them: go on with the next
                raise
            if not data:
                break
            parsed = kmsg_event(data.decode("utf-8", errors="replace"))
            if parsed is None:
                continue
            seq, event = parsed
            if self.last_seq is not None and seq <= self.last_seq:
                continue
            self.last_seq = seq
            events.append(event)
        return events

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None


def current_boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def journal_event(line: str) -> tuple[str, Event] | None:
    """One line of `journalctl -o json` as (cursor, event); None when it is not one."""
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    if not isinstance(entry, dict):
        return None
    message = entry.get("MESSAGE", "")
    if isinstance(message, list):  # non-UTF-8 messages come as a list of bytes
        message = bytes(b for b in message if isinstance(b, int)).decode(errors="replace")
    priority = entry.get("PRIORITY", "6")
    prio = int(priority) if isinstance(priority, str) and priority.isdigit() else 6
    event: Event = {
        "level": _KMSG_LEVELS[prio & 7],
        "logger": str(entry.get("SYSLOG_IDENTIFIER") or entry.get("_COMM") or "journal"),
        "message": str(message),
        "source": "journal",
    }
    for key, name in (("_SYSTEMD_UNIT", "unit"), ("_PID", "pid"), ("_HOSTNAME", "hostname")):
        if key in entry:
            event[name] = entry[key]
    realtime = entry.get("__REALTIME_TIMESTAMP")
    if isinstance(realtime, str) and realtime.isdigit():
        event["logged_at_us"] = int(realtime)
    return str(entry.get("__CURSOR", "")), event


def systemd_running() -> bool:
    """systemd is PID 1 (the test systemd itself uses, sd_booted)."""
    return Path("/run/systemd/system").is_dir()


class JournalReader:
    """`journalctl -o json -f`, from after `cursor` (or only new entries), read without
    blocking. The child dies with the collector (`setpriv --pdeathsig`, when present)."""

    def __init__(self, *, cursor: str | None = None) -> None:
        self.cursor = cursor
        self._proc: subprocess.Popen[bytes] | None = None
        self._partial = b""

    @property
    def mark(self) -> str | None:
        return self.cursor

    def open(self) -> None:
        binary = shutil.which("journalctl")
        if binary is None:
            raise FileNotFoundError(errno.ENOENT, "journalctl not found", "journalctl")
        if not systemd_running():
            raise FileNotFoundError(errno.ENOENT, "systemd is not running", "/run/systemd/system")
        argv = [binary, "-o", "json", "-f", "--no-pager"]
        setpriv = shutil.which("setpriv")  # util-linux: the child dies with its parent
        if setpriv is not None:
            argv = [setpriv, "--pdeathsig", "TERM", "--", *argv]
        argv += [f"--after-cursor={self.cursor}"] if self.cursor else ["-n", "0"]
        self._proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert self._proc.stdout is not None
        os.set_blocking(self._proc.stdout.fileno(), False)

    def read(self, limit: int = 2000) -> list[Event]:
        proc = self._proc
        assert proc is not None and proc.stdout is not None, "open() first"
        events: list[Event] = []
        while len(events) < limit:
            try:
                data = os.read(proc.stdout.fileno(), 1 << 16)
            except BlockingIOError:
                break
            if not data:
                if proc.poll() is not None:
                    raise OSError(errno.EPIPE, f"journalctl exited with {proc.returncode}")
                break
            pieces = (self._partial + data).split(b"\n")
            self._partial = pieces.pop()
            for piece in pieces:
                parsed = journal_event(piece.decode("utf-8", errors="replace"))
                if parsed is not None:
                    self.cursor, event = parsed
                    events.append(event)
        return events

    def close(self) -> None:
        if self._proc is not None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(5)
            if self._proc.poll() is None:
                self._proc.kill()
                self._proc.wait()
            self._proc = None
