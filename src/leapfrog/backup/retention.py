"""Which backups a prune keeps: the rules, apart from any storage so they are testable.

- keep the newest `keep_last` backups;
- never delete the newest backup whose verification did not fail (the only good one
  stays even when newer ones failed verification or `keep_last` would drop it);
- a prune never deletes every backup.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from leapfrog.backup.manifest import Manifest

__all__ = ["Plan", "plan_prune"]


@dataclass(frozen=True)
class Plan:
    keep: list[Manifest]
    delete: list[Manifest]


def plan_prune(
    backups: Sequence[Manifest], keep_last: int, verified: Mapping[str, bool | None]
) -> Plan:
    """`verified`: by backup id, True (passed), False (failed) or None (not verified)."""
    if keep_last < 1:
        raise ValueError("keep_last must be at least 1")
    newest_first = sorted(backups, key=lambda m: m.ended, reverse=True)
    keep_ids = {m.id for m in newest_first[:keep_last]}
    good = [m for m in newest_first if verified.get(m.id) is not False]
    if good:
        keep_ids.add(good[0].id)
    keep = [m for m in newest_first if m.id in keep_ids]
    delete = [m for m in newest_first if m.id not in keep_ids]
    return Plan(keep=keep, delete=delete)
