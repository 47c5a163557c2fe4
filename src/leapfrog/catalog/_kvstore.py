"""The key/value store: entries, check-and-set, and per-prefix indexes with tombstones."""

from __future__ import annotations

import base64
from typing import Any

from leapfrog.catalog._index import IndexLog
from leapfrog.catalog._model import KVEntry

__all__ = ["KVStore"]


class KVStore:
    def __init__(self, log: IndexLog) -> None:
        self._log = log
        self.entries: dict[str, KVEntry] = {}
        self.last_change: dict[str, int] = {}
        """Last modify or delete index of every key ever written (deletes are tombstones)."""

    def index(self, key: str, prefix: bool) -> int:
        if not prefix:
            return max(1, self.last_change.get(key, 0))
        return max(1, max((i for k, i in self.last_change.items() if k.startswith(key)), default=0))

    def get(self, key: str) -> KVEntry | None:
        return self.entries.get(key)

    def under(self, prefix: str) -> list[KVEntry]:
        return sorted(
            (e for k, e in self.entries.items() if k.startswith(prefix)), key=lambda e: e.key
        )

    def put(self, key: str, value: bytes, flags: int, cas: int | None) -> bool:
        existing = self.entries.get(key)
        if cas is not None:
            current = existing.modify_index if existing else 0
            if cas != current:
                return False
        index = self._log.next(())
        created = existing.create_index if existing else index
        entry = KVEntry(key, value, flags, create_index=created, modify_index=index)
        self._apply_put(entry)
        self._log.record(
            {
                "o": "kv",
                "k": key,
                "v": base64.b64encode(value).decode(),
                "f": flags,
                "c": entry.create_index,
                "m": index,
            }
        )
        hub = self._log.hub
        self._log.after_commit(lambda: hub.notify_key(key))
        return True

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
        hub = self._log.hub

        def wake() -> None:
            for k in doomed:
                hub.notify_key(k)

        self._log.after_commit(wake)
        return True

    def _apply_put(self, entry: KVEntry) -> None:
        self.entries[entry.key] = entry
        self.last_change[entry.key] = entry.modify_index

    def _apply_delete(self, key: str, index: int) -> None:
        self.entries.pop(key, None)
        self.last_change[key] = max(index, self.last_change.get(key, 0))

    def replay(self, record: dict[str, Any]) -> bool:
        if record["o"] == "kv":
            value = base64.b64decode(record["v"])
            self._apply_put(
                KVEntry(
                    record["k"],
                    value,
                    record["f"],
                    create_index=record["c"],
                    modify_index=record["m"],
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
                [e.key, base64.b64encode(e.value).decode(), e.flags, e.create_index, e.modify_index]
                for e in self.entries.values()
            ],
            "last_change": self.last_change,
        }

    def restore(self, data: dict[str, Any]) -> None:
        for key, value, flags, create, modify in data["entries"]:
            self.entries[key] = KVEntry(
                key, base64.b64decode(value), flags, create_index=create, modify_index=modify
            )
        self.last_change = {k: int(v) for k, v in data["last_change"].items()}
