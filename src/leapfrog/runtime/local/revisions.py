"""A service's revisions and its rollout's progress, kept under the state directory.

Every change of a service's definition that `up` applies (or `rollout undo`, or an
automatic revert) is a revision: the service's section of the stack file as it was
applied, numbered like Kubernetes' ReplicaSet revisions. The newest `HISTORY_LIMIT` are
kept, with the rollout that brought each in: its phase, progress and, when it failed or
was reverted, why. One JSON file per service (`<state dir>/rollouts/<service>.json`,
mode 0600 in a 0700 directory), rewritten atomically, so a supervisor killed at any
point leaves either the record before a step or the one after it.

`Progress` is the state machine of one rollout; it does no I/O, the engine
(`rollouts.py`) drives it and saves it after every step.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from leapfrog.shared.files import atomic_write_json

__all__ = [
    "HISTORY_LIMIT",
    "CanaryPeriod",
    "Phase",
    "Progress",
    "Revision",
    "RolloutRecord",
    "batches",
    "digest",
    "load",
    "save",
]

HISTORY_LIMIT = 10
"""Revisions kept per service (Kubernetes' revisionHistoryLimit default)."""

Phase = Literal["progressing", "paused", "reverting", "complete", "reverted", "failed"]
_ACTIVE: tuple[Phase, ...] = ("progressing", "paused", "reverting")
_IGNORED = ("replicas", "rollout")
"""Keys of a service's section that are not part of its revision: the count is scaling,
the strategy only says how a change is rolled out."""


def digest(section: dict[str, Any]) -> str:
    """What identifies a revision: the service's section without its count and strategy."""
    kept = {k: v for k, v in section.items() if k not in _IGNORED}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:16]


def batches(names: list[str], surge: int, unavailable: int) -> list[list[str]]:
    """The old instances in the groups replaced together: with `surge` new instances
    serving beside them, `surge + unavailable` old ones may be out at once and the
    service still serves with at least as many instances as `unavailable` allows."""
    size = max(1, surge + unavailable)
    return [names[i : i + size] for i in range(0, len(names), size)]


@dataclass
class Revision:
    number: int
    digest: str
    section: dict[str, Any]
    """The service's section of the stack file as applied (JSON)."""
    cause: str
    """What made it: `up`, `undo to revision N`, `auto-revert of revision N`."""
    created: float
    version: str | None = None
    outcome: str = ""
    """How its rollout ended: complete, failed: why, reverted: why (empty while rolling)."""


@dataclass
class Progress:
    """One rollout: from revision `source` to `target`, instance by instance."""

    target: int
    source: int | None
    total: int
    """Instances the service runs (its replicas)."""
    canary: int = 0
    phase: Phase = "progressing"
    reason: str = ""
    updated: list[str] = field(default_factory=list)
    """Instances running the target revision and serving (the surge ones included)."""
    surge: list[str] = field(default_factory=list)
    """Extra instances of the target revision while the rollout runs (they leave at its end)."""
    started: float = field(default_factory=time.time)
    finished: float | None = None
    pause_requested: bool = False
    promoted: str = ""
    """How the canary went on: by `rollout promote|resume`, or by itself after its period."""
    resumed: int = 0
    """How many times a new supervisor resumed it, its own having been killed mid-rollout."""
    paused_at: float | None = None
    """When it paused (its canary serving since then, waiting for promote)."""

    @property
    def active(self) -> bool:
        return self.phase in _ACTIVE

    def ready(self, name: str) -> None:
        """`name`, of the target revision, passes in the catalog."""
        if name not in self.updated:
            self.updated.append(name)

    def gone(self, name: str) -> None:
        """`name` left (a surge instance at the end)."""
        if name in self.updated:
            self.updated.remove(name)

    def should_pause(self) -> bool:
        """After a step: hold here (asked to, or the canary count is reached)?"""
        if self.phase != "progressing":
            return False
        if self.pause_requested:
            return True
        return 0 < self.canary <= len(self.updated) and len(self.updated) < self.total

    def pause(self, reason: str) -> None:
        if self.phase == "progressing":
            self.phase, self.reason = "paused", reason
            self.paused_at = time.time()

    def resume(self, promoted: str = "by `leapfrog rollout resume`") -> None:
        """Continue a paused rollout; the canary count no longer holds it."""
        if self.phase == "paused" and self.canary and not self.pause_requested:
            self.promoted = promoted
        self.pause_requested = False
        self.canary = 0
        if self.phase == "paused":
            self.phase, self.reason, self.paused_at = "progressing", "", None

    def fail(self, reason: str, revert: bool) -> None:
        """A step missed its deadline or a new instance failed: revert, or stay failed."""
        if self.phase == "reverting":  # the revert failed too: nothing more to go back to
            self.phase, self.reason = "failed", f"{self.reason}; the revert failed: {reason}"
            self.finished = time.time()
            return
        can_revert = revert and self.source is not None
        self.phase, self.reason = ("reverting" if can_revert else "failed"), reason
        if not can_revert:
            self.finished = time.time()

    def done(self) -> None:
        """Every instance runs the revision this rollout ends at."""
        self.phase = "reverted" if self.phase == "reverting" else "complete"
        self.finished = time.time()

    def message(self, service: str) -> str:
        n = len([u for u in self.updated if u not in self.surge])
        extra = f" (+{len(self.surge)} surge)" if self.surge else ""
        again = ""
        if self.resumed:
            again = f", resumed after its supervisor was killed ({self.resumed}x)"
        if self.phase == "complete":
            return f"{service}: revision {self.target} rolled out ({self.total} instance(s)){again}"
        if self.phase == "reverted":
            return f"{service}: revision {self.target} reverted to {self.source}: {self.reason}"
        if self.phase == "failed":
            return f"{service}: rollout of revision {self.target} failed: {self.reason}"
        if self.phase == "paused":
            return (
                f"{service}: rollout of revision {self.target} paused with {n} of "
                f"{self.total} instance(s) updated{extra}: {self.reason}"
            )
        if self.phase == "reverting":
            return f"{service}: reverting revision {self.target} to {self.source}: {self.reason}"
        return f"{service}: revision {self.target}: {n} of {self.total} instance(s) updated{extra}"


@dataclass
class CanaryPeriod:
    """When a paused canary promotes itself (`promote_after`): once every canary has
    passed for `length` without a break; one that stops passing starts it again."""

    length: float
    since: float | None = None
    """Since when every canary has passed (None: one does not now)."""

    def observe(self, now: float, passing: bool) -> bool:
        """One look at the canaries at `now`: is the period over (promote)?"""
        if not passing:
            self.since = None
            return False
        if self.since is None:
            self.since = now
        return now - self.since >= self.length


@dataclass
class RolloutRecord:
    """What is kept for one service: its revisions and its last rollout."""

    service: str
    revisions: list[Revision] = field(default_factory=list)
    current: int | None = None
    """The revision the running instances are on (or going to)."""
    rollout: Progress | None = None

    def revision(self, number: int) -> Revision | None:
        return next((r for r in self.revisions if r.number == number), None)

    def latest(self) -> Revision | None:
        return self.revisions[-1] if self.revisions else None

    def add(self, section: dict[str, Any], cause: str) -> Revision:
        """A new revision for `section` (the current one again if it is the same)."""
        found = self.revision(self.current) if self.current is not None else None
        key = digest(section)
        if found is not None and found.digest == key:
            return found
        number = (self.revisions[-1].number + 1) if self.revisions else 1
        version = section.get("version")
        made = Revision(number, key, section, cause, time.time(), str(version) if version else None)
        self.revisions.append(made)
        # Bounded, but never dropping the revision running now.
        while len(self.revisions) > HISTORY_LIMIT:
            drop = next(r for r in self.revisions if r.number != self.current)
            self.revisions.remove(drop)
        return made

    def canary(self) -> dict[str, Any] | None:
        """The canary held now (None: none): the revision its instances run, which they
        are, since when they serve, and what it waits for; what `rollout history` shows,
        the shape the Kubernetes target gives too (runtime/rollout_control.py)."""
        progress = self.rollout
        if progress is None or progress.phase != "paused" or not progress.canary:
            return None
        if progress.pause_requested:  # `rollout pause`, not the canary count, holds it
            return None
        found = self.revision(progress.target)
        section = found.section if found is not None else {}
        after = (section.get("rollout") or {}).get("promote_after")
        new = [u for u in progress.updated if u not in progress.surge]
        return {
            "revision": progress.target,
            "title": f"revision {progress.target} on {', '.join(progress.updated)}",
            "version": found.version if found is not None else None,
            "images": [str(section["image"])] if section.get("image") else [],
            "instances": list(progress.updated),
            "count": len(progress.updated),
            "ready": len(progress.updated),
            "beside": progress.total - len(new),
            "since": progress.paused_at,
            "phase": progress.phase,
            "waits_for": "promote",
            "promote_after": after,
            "message": progress.message(self.service),
        }

    def previous(self) -> Revision | None:
        """The revision before the current one (what `undo` goes back to)."""
        older = [r for r in self.revisions if self.current is None or r.number < self.current]
        return older[-1] if older else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "current": self.current,
            "revisions": [asdict(r) for r in self.revisions],
            "rollout": asdict(self.rollout) if self.rollout is not None else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RolloutRecord:
        rollout = data.get("rollout")
        return cls(
            service=str(data["service"]),
            revisions=[Revision(**r) for r in data.get("revisions", [])],
            current=data.get("current"),
            rollout=Progress(**rollout) if rollout else None,
        )


def _path(root: Path, service: str) -> Path:
    return root / "rollouts" / f"{service}.json"


def load(root: Path, service: str) -> RolloutRecord:
    """The service's record under the state directory `root` (an empty one if none)."""
    try:
        data = json.loads(_path(root, service).read_text())
        return RolloutRecord.from_dict(data)
    except FileNotFoundError:
        return RolloutRecord(service)
    except (ValueError, KeyError, TypeError):  # unreadable: start the history anew
        return RolloutRecord(service)


def save(root: Path, record: RolloutRecord) -> None:
    path = _path(root, record.service)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    atomic_write_json(path, record.as_dict(), mode=0o600)
