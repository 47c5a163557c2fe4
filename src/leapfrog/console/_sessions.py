"""Who is logged in: a session per login, held in the console's memory only.

The browser holds a random session id (HttpOnly, SameSite=Strict); the catalog token it
logged in with stays on the server and is never rendered into a page. Every session has
its own CSRF token, which every write must send back (form field `csrf` or header
`X-CSRF-Token`).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field

__all__ = ["COOKIE", "Session", "Sessions"]

COOKIE = "leapfrog_console"
_IDLE = 12 * 3600.0


@dataclass
class Session:
    token: str
    """The catalog ACL token ("" with ACL off); never leaves the server."""
    accessor: str
    description: str
    can_write: bool
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    seen: float = field(default_factory=time.monotonic)

    def csrf_ok(self, sent: str | None) -> bool:
        return bool(sent) and secrets.compare_digest(self.csrf, sent or "")


class Sessions:
    def __init__(self, idle: float = _IDLE) -> None:
        self._by_id: dict[str, Session] = {}
        self._idle = idle

    def create(self, session: Session) -> str:
        self._expire()
        sid = secrets.token_urlsafe(32)
        self._by_id[sid] = session
        return sid

    def get(self, sid: str | None) -> Session | None:
        session = self._by_id.get(sid or "")
        if session is None:
            return None
        now = time.monotonic()
        if now - session.seen > self._idle:
            self._by_id.pop(sid or "", None)
            return None
        session.seen = now
        return session

    def __len__(self) -> int:
        return len(self._by_id)

    def drop(self, sid: str | None) -> None:
        self._by_id.pop(sid or "", None)

    def _expire(self) -> None:
        now = time.monotonic()
        for sid in [s for s, v in self._by_id.items() if now - v.seen > self._idle]:
            del self._by_id[sid]
