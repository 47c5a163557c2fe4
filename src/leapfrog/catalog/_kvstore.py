"""The key/value store: entries, check-and-set, locks, and per-prefix indexes with tombstones.

A lock is a key whose `session` is set. Acquiring counts `lock_index` up; a plain write
to a locked key keeps its holder (as Consul's does). When a session is invalidated its
keys are released or deleted and, for the session's lock-delay, nobody may acquire them.
"""

from __future__ import annotations

import base64
from typing import Any

from leapfrog.catalog._index import IndexLog
from leapfrog.catalog._model import KVEntry
from leapfrog.catalog._records import check_kv

__all__ = ["KVStore"]


class KVStore:
    def __init__(self, log: IndexLog) -> None:
        self._log = log
        self.entries: dict[str, KVEntry] = {}
        self.last_change: dict[str, int] = {}
        """Last modify or delete index of every key ever written (deletes are tombstones)."""
        self.table_index = 0
        """The highest of those: Consul's index of the KV table."""
        self.lock_delays: dict[str, float] = {}
        """Clock time until which a key released by an invalidated session stays unlockable.
        In memory only, as in Consul."""

    @property
    def log(self) -> IndexLog:
        return self._log

    def index(self, key: str, prefix: bool) -> int:
        """Consul's index of a KV read: the key's, or the highest under the prefix
        (tombstones included); the table's when the key is missing or nothing was ever
        under the prefix."""
        if not prefix:
            found = self.last_change.get(key, 0) if key in self.entries else 0
        else:
            found = max((i for k, i in self.last_change.items() if k.startswith(key)), default=0)
        return max(1, found or self.table_index)

    def get(self, key: str) -> KVEntry | None:
        return self.entries.get(key)

    def under(self, prefix: str) -> list[KVEntry]:
        return sorted(
            (e for k, e in self.entries.items() if k.startswith(prefix)), key=lambda e: e.key
        )

    def held_by(self, session: str) -> list[KVEntry]:
        return [e for e in self.entries.values() if e.session == session]

    def put(self, key: str, value: bytes, flags: int, cas: int | None) -> bool:
        existing = self.entries.get(key)
        if cas is not None:
            current = existing.modify_index if existing else 0
            if cas != current:
                return False
        lock_index, session = (existing.lock_index, existing.session) if existing else (0, "")
        self._write(key, value, flags, self._log.next(()), lock_index=lock_index, session=session)
        return True

    def acquire(self, key: str, value: bytes, flags: int, session: str, now: float) -> bool:
        """Lock `key` for `session` (which must exist) and write it; false if another
        session holds it or it is within a lock-delay."""
        existing = self.entries.get(key)
        if existing is not None and existing.session == session:
            lock_index = existing.lock_index  # already held: a write, not a new acquisition
        elif (existing is not None and existing.session) or self.lock_delays.get(key, 0.0) > now:
            return False  # held by another session, or within a lock-delay
        else:
            lock_index = (existing.lock_index if existing else 0) + 1
        self._write(key, value, flags, self._log.next(()), lock_index=lock_index, session=session)
        return True

    def release(self, key: str, value: bytes, flags: int, session: str) -> bool:
        existing = self.entries.get(key)
        if existing is None or existing.session != session:
            return False
        self._write(
            key, value, flags, self._log.next(()), lock_index=existing.lock_index, session=""
        )
        return True

    def drop_session(self, session: str, delete: bool, index: int, delay_until: float) -> None:
        """An invalidated session's keys: released (values kept) or deleted, at `index`;
        a positive lock-delay blocks re-acquisition until `delay_until`."""
        held = self.held_by(session)
        for entry in held:
            if delete:
                self._apply_delete(entry.key, index)
                self._log.record({"o": "kv-", "k": entry.key, "i": index})
            else:
                self._write(
                    entry.key,
                    entry.value,
                    entry.flags,
                    index,
                    lock_index=entry.lock_index,
                    session="",
                )
        if held and delay_until > 0:
            for entry in held:
                self.lock_delays[entry.key] = delay_until
        self._wake([e.key for e in held])

    def forget_delays(self, now: float) -> None:
        for key in [k for k, until in self.lock_delays.items() if until <= now]:
            del self.lock_delays[key]

    def _write(
        self, key: str, value: bytes, flags: int, index: int, *, lock_index: int, session: str
    ) -> None:
        existing = self.entries.get(key)
        created = existing.create_index if existing else index
        entry = KVEntry(
            key,
            value,
            flags,
            create_index=created,
            modify_index=index,
            lock_index=lock_index,
            session=session,
        )
        check_kv(entry)
        self._apply_put(entry)
        self._log.record(_put_record(entry))
        self._wake([key])

    def commit(self, puts: list[KVEntry], deletes: list[str], index: int) -> None:
        """Apply a transaction's writes (all at `index`) as one journal line, so a crash
        keeps all or none of them, and wake their watchers once, after its fsync."""
        for entry in puts:
            self._apply_put(entry)
        for key in deletes:
            self._apply_delete(key, index)
        records = [_put_record(e) for e in puts] + [
            {"o": "kv-", "k": k, "i": index} for k in deletes
        ]
        self._log.record({"o": "kvtxn", "r": records})
        self._wake([e.key for e in puts] + deletes)

    def _wake(self, keys: list[str]) -> None:
        if not keys:
            return
        hub = self._log.hub

        def wake() -> None:
            for k in keys:
                hub.notify_key(k)

        self._log.after_commit(wake)

    def delete(self, key: str, recurse: bool, cas: int | None) -> bool:
        if recurse:
            doomed = [k for k in self.entries if k.startswith(key)]
        else:
            existing = self.entries.get(key)
            if cas is not None and (existing is None or existing.modify_index != cas):
                return cas == 0 and existing is None
            doomed = [key] if existing else []
        if not doomed:
            return True
        index = self._log.next(())
        for k in doomed:
            self._apply_delete(k, index)
            self._log.record({"o": "kv-", "k": k, "i": index})
        self._wake(doomed)
        return True

    def _apply_put(self, entry: KVEntry) -> None:
        self.entries[entry.key] = entry
        self.last_change[entry.key] = entry.modify_index
        self.table_index = max(self.table_index, entry.modify_index)

    def _apply_delete(self, key: str, index: int) -> None:
        self.entries.pop(key, None)
        self.last_change[key] = max(index, self.last_change.get(key, 0))
        self.table_index = max(self.table_index, index)

    def replay(self, record: dict[str, Any]) -> bool:
        if record["o"] == "kvtxn":
            for inner in record["r"]:
                self.replay(inner)
        elif record["o"] == "kv":
            value = base64.b64decode(record["v"])
            self._apply_put(
                KVEntry(
                    record["k"],
                    value,
                    record["f"],
                    create_index=record["c"],
                    modify_index=record["m"],
                    lock_index=int(record.get("l", 0)),
                    session=str(record.get("s", "")),
                )
            )
        elif record["o"] == "kv-":
            self._apply_delete(record["k"], int(record["i"]))
        else:
            return False
        return True

    def dump(self) -> dict[str, Any]:
        return {
            "entries": [
                [
                    e.key,
                    base64.b64encode(e.value).decode(),
                    e.flags,
                    e.create_index,
                    e.modify_index,
                    e.lock_index,
                    e.session,
                ]
                for e in self.entries.values()
            ],
            "last_change": self.last_change,
        }

    def restore_entry(self, row: list[Any]) -> None:
        """One entry of a snapshot (`dump()["entries"]`), checked before it is kept."""
        key, value, flags, create, modify = row[:5]
        lock_index, session = (row[5], row[6]) if len(row) >= 7 else (0, "")
        entry = KVEntry(
            key,
            base64.b64decode(value, validate=True),
            flags,
            create_index=create,
            modify_index=modify,
            lock_index=lock_index,
            session=session,
        )
        check_kv(entry)
        self.entries[key] = entry
        self.last_change[key] = max(modify, self.last_change.get(key, 0))
        self.table_index = max(self.table_index, modify)

    def restore_indexes(self, last_change: dict[str, Any]) -> None:
        """The snapshot's `dump()["last_change"]`."""
        indexes = {k: int(v) for k, v in last_change.items()}
        if not all(isinstance(k, str) for k in indexes):
            raise TypeError("KV index keys must be strings")
        for key, index in indexes.items():
            self.last_change[key] = max(index, self.last_change.get(key, 0))
        self.table_index = max(self.last_change.values(), default=self.table_index)


def _put_record(entry: KVEntry) -> dict[str, Any]:
    record: dict[str, Any] = {
        "o": "kv",
        "k": entry.key,
        "v": base64.b64encode(entry.value).decode(),
        "f": entry.flags,
        "c": entry.create_index,
        "m": entry.modify_index,
    }
    if entry.lock_index:
        record["l"] = entry.lock_index
    if entry.session:
        record["s"] = entry.session
    return record
