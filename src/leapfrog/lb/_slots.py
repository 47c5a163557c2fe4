"""Stable server slots per backend, so HAProxy's runtime API can change membership.

An instance keeps its slot for as long as it stays in the backend (its connections are
never moved); a gone instance frees its slot for the next one. A backend's slot count is a
power of two, at least `minimum`, and never shrinks: a new count changes the config's
shape and costs a reload, a free slot costs nothing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

__all__ = ["SlotTable"]

T = TypeVar("T")


class SlotTable:
    def __init__(self, minimum: int = 4) -> None:
        self.minimum = minimum
        self._slots: dict[str, list[str | None]] = {}

    def assign(self, backend: str, ids: Sequence[str], free: int = 0) -> list[str | None]:
        """Each slot's instance id (None: free), keeping the previous assignment; at least
        `free` slots stay free (the table doubles to keep them)."""
        slots = self._slots.get(backend, [])
        wanted = set(ids)
        slots = [sid if sid in wanted else None for sid in slots]
        size = max(self.minimum, len(slots))
        while size < len(ids) + free:
            size *= 2
        slots += [None] * (size - len(slots))
        placed = {sid for sid in slots if sid is not None}
        open_slots = (i for i, sid in enumerate(slots) if sid is None)
        for sid in ids:
            if sid not in placed:
                slots[next(open_slots)] = sid
        self._slots[backend] = slots
        return list(slots)

    def place(self, backend: str, items: Sequence[T], ident: str = "id") -> list[T | None]:
        """`items` (records with an `ident` attribute) in their slots; None for a free one."""
        by_id = {str(getattr(item, ident)): item for item in items}
        return [
            by_id[sid] if sid is not None else None for sid in self.assign(backend, list(by_id))
        ]
