"""The encoded answers of blocking reads, shared by every watcher of the same answer.

A thousand watchers of one service are woken by one change; the first renders the JSON
and the others get the same bytes. An answer is keyed on what changes it: the path, the
ACL token, and the query parameters the route looked at while building it (`QueryParams`
records them). Parameters no route reads (junk, cache-busters) therefore share one entry
instead of adding one each. The cache is bounded in bytes, least recently used out
first, and an entry is replaced when its answer moves to a newer index.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from leapfrog.catalog._httpparse import Request
from leapfrog.catalog._httpserver import Response

__all__ = ["MAX_CACHE_BYTES", "ReplyCache"]

MAX_CACHE_BYTES = 64 * 1024 * 1024
_ENTRY_OVERHEAD = 1024
"""Bytes counted for an entry besides its answer: its key, its objects, the index."""

_MAX_EXACT = 4096
"""Queries remembered by `ReplyCache._exact` (then it starts over)."""

_Values = tuple[tuple[str, ...], ...]
_Key = tuple[str, str, tuple[str, ...], _Values]


@dataclass
class _Entry:
    index: int
    response: Response
    size: int


def _values(request: Request, names: tuple[str, ...]) -> _Values:
    return tuple(tuple(v for k, v in request.query if k == name) for name in names)


class ReplyCache:
    def __init__(self, max_bytes: int = MAX_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        """What the entries hold now (answers plus `_ENTRY_OVERHEAD` each)."""
        self._entries: OrderedDict[_Key, _Entry] = OrderedDict()
        self._shapes: dict[tuple[str, str], dict[tuple[str, ...], int]] = {}
        """For (path, token): the sets of parameter names entries were keyed on, counted."""
        self._exact: dict[tuple[str, str, tuple[tuple[str, str], ...]], _Key] = {}
        """(path, token, the whole query) -> the key it was last found under: a thousand
        watchers woken together send the same query, and this skips the search of
        `get` for all but the first (it holds keys only, never answers)."""

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, request: Request, token: str, index: int) -> Response | None:
        """The cached answer at `index` for a request that reads like this one."""
        exact = (request.path, token, tuple(request.query))
        key = self._exact.get(exact)
        if key is not None:
            entry = self._entries.get(key)
            if entry is not None and entry.index == index:
                self._entries.move_to_end(key)
                return entry.response
        shapes = self._shapes.get((request.path, token))
        if not shapes:
            return None
        for names in shapes:
            key = (request.path, token, names, _values(request, names))
            entry = self._entries.get(key)
            if entry is not None and entry.index == index:
                self._entries.move_to_end(key)
                if len(self._exact) >= _MAX_EXACT:
                    self._exact.clear()
                self._exact[exact] = key
                return entry.response
        return None

    def put(
        self, request: Request, token: str, read: set[str], index: int, response: Response
    ) -> None:
        """Keep `response` (its `encoded` bytes set), keyed on the parameters in `read`."""
        size = len(response.body) + len(response.encoded or b"") + _ENTRY_OVERHEAD
        if size > self.max_bytes // 2:
            return  # one answer may not push out all the others
        names = tuple(sorted(read))
        key = (request.path, token, names, _values(request, names))
        old = self._entries.pop(key, None)
        if old is not None:
            self.bytes -= old.size
        else:
            shapes = self._shapes.setdefault((request.path, token), {})
            shapes[names] = shapes.get(names, 0) + 1
        self._entries[key] = _Entry(index, response, size)
        self.bytes += size
        while self.bytes > self.max_bytes:
            self._evict()

    def _evict(self) -> None:
        (path, token, names, _), entry = self._entries.popitem(last=False)
        self.bytes -= entry.size
        shapes = self._shapes[(path, token)]
        shapes[names] -= 1
        if not shapes[names]:
            del shapes[names]
            if not shapes:
                del self._shapes[(path, token)]
