"""The contract of `leapfrog rollout`: what each target (the local supervisor, a
Kubernetes Deployment) answers to status, history, undo, pause, resume and promote.

Every answer is a JSON object of the same shape on both targets:

* status: `service`, `current` (its revision), `replicas`, `instances` (name, revision,
  state, pending), `phase` (progressing, paused, reverting, complete, reverted, failed),
  `message`, `done` (rolled out, or paused);
* history: `service`, `current`, `revisions` (number, digest, cause, created, version,
  outcome, and what the target adds), `canary`: the canary held now or None (`revision`,
  `title`, `version`, `images`, `instances`, `count`, `ready`, `beside`, `since`,
  `phase`, `waits_for`, `message`);
* undo: a status with `undone` (and `revision`, the revision gone back to, when it was;
  `canary_removed`, the canary it took away, on Kubernetes).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

__all__ = ["FAILED", "FINAL", "RolloutControl"]

FINAL = ("complete", "reverted", "failed", "paused")
"""Phases `rollout status` stops waiting at."""
FAILED = ("failed", "reverted")
"""Phases `rollout status` exits 1 at."""


class RolloutControl(Protocol):
    def status(self, name: str) -> dict[str, Any]:
        """Where NAME's rollout is now."""

    def follow(self, name: str, timeout: float) -> Iterator[dict[str, Any]]:
        """The status each time it changes until a FINAL phase (the last one yielded);
        LeapfrogError when `timeout` passes first."""

    def history(self, name: str) -> dict[str, Any]: ...

    def undo(self, name: str, to: int | None) -> dict[str, Any]: ...

    def pause(self, name: str) -> dict[str, Any]: ...

    def resume(self, name: str) -> dict[str, Any]: ...

    def promote(self, name: str, timeout: float = 300.0) -> dict[str, Any]:
        """A paused canary goes on (where there are no canaries: resume). A target that
        replaces its instances itself when promoting (a Kubernetes canary Deployment)
        waits up to `timeout` for that."""
