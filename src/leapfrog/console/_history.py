"""An instance's health history: its state changes over time (started, exited with its
code or signal, restarting, health, crash loop, stopped) from the supervisor's events in
the logs, each with how long the state it entered lasted, and the time spent in each
state over the range."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from leapfrog.console._logsearch import LogHit

__all__ = ["Change", "History", "history", "spoken"]


@dataclass(frozen=True)
class Change:
    at: datetime
    event: str
    state: str
    detail: str
    level: str
    lasted: float
    """Seconds until the next change (or until the end of the range for the latest)."""
    hit: LogHit


@dataclass(frozen=True)
class History:
    changes: list[Change]
    """Newest first."""
    spent: list[tuple[str, float]]
    """(state, seconds) over the range since the first change seen, longest first."""

    @property
    def total(self) -> float:
        return sum(seconds for _, seconds in self.spent)


def _moment(hit: LogHit) -> datetime | None:
    try:
        return datetime.fromisoformat(hit.timestamp.replace("Z", "+00:00"))
    except ValueError:
        return None


def history(hits: list[LogHit], end: datetime) -> History:
    """`hits`: the supervisor's events of one instance, any order; `end`: the range's end."""
    timed = sorted(
        ((at, hit) for hit in hits if (at := _moment(hit)) is not None), key=lambda p: p[0]
    )
    changes: list[Change] = []
    spent: dict[str, float] = {}
    for position, (at, hit) in enumerate(timed):
        until = timed[position + 1][0] if position + 1 < len(timed) else max(end, at)
        lasted = max(0.0, (until - at).total_seconds())
        source = hit.source
        state = str(source.get("state", ""))
        spent[state] = spent.get(state, 0.0) + lasted
        changes.append(
            Change(
                at,
                str(source.get("event", "")),
                state,
                str(source.get("detail", "")),
                str(source.get("level", "")),
                lasted,
                hit,
            )
        )
    changes.reverse()
    return History(changes, sorted(spent.items(), key=lambda p: -p[1]))


def spoken(seconds: float) -> str:
    """3725 -> "1h 2m 5s"; 0.4 -> "0s"."""
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{days}d" if days else "",
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
    ]
    text = " ".join(p for p in parts if p)
    return f"{text} {secs}s".strip() if secs or not text else text
