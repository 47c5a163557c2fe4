"""KV transactions: every operation is run against a scratch view of the store first;
only when none failed are the writes applied, together, at one index.

So a failing operation leaves the store untouched (nothing to roll back), later
operations see the effects of earlier ones (as in Consul), and watchers are woken once,
after the journal's fsync of the whole transaction (`KVStore.commit`). Errors keep
Consul's texts; like Consul, every failing operation is reported, not just the first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from leapfrog.catalog._kvstore import KVStore
from leapfrog.catalog._model import KVEntry
from leapfrog.catalog._sessions import SessionStore

__all__ = ["KVOp", "TxnOutcome", "run_kv_txn"]

VERBS = (
    "set", "cas", "lock", "unlock", "get", "get-tree", "check-index", "check-session",
    "check-not-exists", "delete", "delete-tree", "delete-cas",
)  # fmt: skip
_TREE_VERBS = ("get-tree", "delete-tree")


@dataclass
class KVOp:
    verb: str
    key: str
    value: bytes = b""
    flags: int = 0
    index: int = 0
    session: str = ""


@dataclass
class TxnOutcome:
    results: list[tuple[KVEntry, bool]] = field(default_factory=list)
    """Entries to answer, each with whether its value is shown (only get and get-tree)."""
    errors: list[tuple[int, str]] = field(default_factory=list)
    """(operation number, Consul's error text) of every failed operation."""
    index: int = 0
    """The index of the writes; 0 when nothing was written."""


class _Failed(Exception):
    pass


class _Scratch:
    """The store as the transaction has changed it so far; nothing applied yet."""

    def __init__(self, kv: KVStore, sessions: SessionStore, index: int) -> None:
        self.kv = kv
        self.sessions = sessions
        self.index = index
        self.changed: dict[str, KVEntry | None] = {}

    def get(self, key: str) -> KVEntry | None:
        return self.changed[key] if key in self.changed else self.kv.get(key)

    def under(self, prefix: str) -> list[KVEntry]:
        keys = {k for k in self.kv.entries if k.startswith(prefix)}
        keys |= {k for k in self.changed if k.startswith(prefix)}
        found = (self.get(k) for k in sorted(keys))
        return [e for e in found if e is not None]

    def write(self, op: KVOp, *, lock_index: int, session: str) -> KVEntry:
        existing = self.get(op.key)
        entry = KVEntry(
            op.key,
            op.value,
            op.flags,
            create_index=existing.create_index if existing else self.index,
            modify_index=self.index,
            lock_index=lock_index,
            session=session,
        )
        self.changed[op.key] = entry
        return entry

    def existing(self, key: str) -> KVEntry:
        entry = self.get(key)
        if entry is None:
            raise _Failed(f'key "{key}" doesn\'t exist')
        return entry


def _apply(scratch: _Scratch, op: KVOp) -> list[tuple[KVEntry, bool]]:
    """One operation on the scratch view: the entries it answers, or _Failed."""
    verb, key = op.verb, op.key
    if verb not in VERBS:
        raise _Failed(f'unknown KV verb "{verb}"')
    if not key and verb not in _TREE_VERBS:
        raise _Failed("Must provide key")
    current = scratch.get(key)
    if verb in ("set", "cas"):
        if verb == "cas" and op.index != (current.modify_index if current else 0):
            raise _Failed(f'failed to set key "{key}", index is stale')
        held = (current.lock_index, current.session) if current else (0, "")
        return [(scratch.write(op, lock_index=held[0], session=held[1]), False)]
    if verb == "lock":
        return [(_lock(scratch, op, current), False)]
    if verb == "unlock":
        if current is None or not op.session or current.session != op.session:
            raise _Failed(
                f'failed to unlock key "{key}", lock isn\'t held, or is held by another session'
            )
        return [(scratch.write(op, lock_index=current.lock_index, session=""), False)]
    if verb == "get":
        return [(scratch.existing(key), True)]
    if verb == "get-tree":
        return [(e, True) for e in scratch.under(key)]
    if verb == "check-index":
        entry = scratch.existing(key)
        if entry.modify_index != op.index:
            raise _Failed(f"current modify index {entry.modify_index} != {op.index}")
        return [(entry, False)]
    if verb == "check-session":
        entry = scratch.existing(key)
        if entry.session != op.session:
            raise _Failed(
                f'current session "{entry.session}" doesn\'t equal expected session "{op.session}"'
            )
        return [(entry, False)]
    if verb == "check-not-exists":
        if current is not None:
            raise _Failed(f'key "{key}" exists')
        return []
    if verb == "delete-cas" and current is not None and current.modify_index != op.index:
        raise _Failed(f'failed to delete key "{key}", index is stale')
    doomed = [e.key for e in scratch.under(key)] if verb == "delete-tree" else [key]
    for doomed_key in doomed:
        if scratch.get(doomed_key) is not None:
            scratch.changed[doomed_key] = None
    return []


def _lock(scratch: _Scratch, op: KVOp, current: KVEntry | None) -> KVEntry:
    if not op.session:
        raise _Failed("missing session")
    if scratch.sessions.get(op.session) is None:
        raise _Failed(f'invalid session "{op.session}"')
    if current is not None and current.session == op.session:
        return scratch.write(op, lock_index=current.lock_index, session=op.session)
    if current is not None and current.session:
        raise _Failed(f'failed to lock key "{op.key}", lock is already held')
    if scratch.kv.lock_delays.get(op.key, 0.0) > scratch.sessions.now():
        raise _Failed(f'failed to lock key "{op.key}" due to lock delay')
    lock_index = (current.lock_index if current else 0) + 1
    return scratch.write(op, lock_index=lock_index, session=op.session)


def run_kv_txn(kv: KVStore, sessions: SessionStore, ops: list[KVOp]) -> TxnOutcome:
    """Run `ops` all or nothing; on success the writes are applied at one new index."""
    log = kv.log
    scratch = _Scratch(kv, sessions, log.index + 1)
    outcome = TxnOutcome()
    for number, op in enumerate(ops):
        try:
            outcome.results.extend(_apply(scratch, op))
        except _Failed as failed:
            outcome.errors.append((number, str(failed)))
    if outcome.errors:
        outcome.results = []
        return outcome
    writes = {k: e for k, e in scratch.changed.items() if e is not None or kv.get(k) is not None}
    if writes:
        outcome.index = log.next(())
        assert outcome.index == scratch.index  # nothing ran between the dry run and now
        puts = [e for e in writes.values() if e is not None]
        kv.commit(puts, [k for k, e in writes.items() if e is None], outcome.index)
    return outcome
