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
_Exact = tuple[str, str, tuple[tuple[str, str], ...]]


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
        self._exact: dict[_Exact, _Key] = {}
        self._interned: dict[_Exact, _Exact] = {}
        self._last: tuple[_Exact | None, int, Response | None] = (None, 0, None)
        """The last answer `get` found by its exact key: (key, index, answer)."""
        """(path, token, the whole query) -> the key it was last found under: a thousand
        watchers woken together send the same query, and this skips the search of
        `get` for all but the first (it holds keys only, never answers)."""

    def __len__(self) -> int:
        return len(self._entries)

    def get(
        self, request: Request, token: str, index: int, exact: _Exact | None = None
    ) -> Response | None:
        """The cached answer at `index` for a request that reads like this one (`exact`:
        its `exact_key`, if the caller kept it from an earlier call)."""
        if exact is None:
            exact = self.exact_key(request, token)
        elif exact is self._last[0] and index == self._last[1]:
            # The watchers a change wakes ask one after another for the same answer.
            return self._last[2]
        key = self._exact.get(exact)
        if key is not None:
            entry = self._entries.get(key)
            if entry is not None and entry.index == index:
                self._entries.move_to_end(key)
                self._last = (exact, index, entry.response)
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

    def exact_key(self, request: Request, token: str) -> _Exact:
        """What `get` looks a request up by first. A blocking read woken again and again
        keeps it instead of building it on every wake; equal keys are the same object, so
        a run of reads of one answer is recognised by identity (`_last`)."""
        key = (request.path, token, tuple(request.query))
        interned = self._interned.get(key)
        if interned is None:
            if len(self._interned) >= _MAX_EXACT:
                self._interned.clear()
            interned = self._interned[key] = key
        return interned

    def put(
        self, request: Request, token: str, read: set[str], index: int, response: Response
    ) -> None:
        """Keep `response` (its `encoded` bytes set), keyed on the parameters in `read`."""
        size = len(response.body) + len(response.encoded or b"") + _ENTRY_OVERHEAD
        if size > self.max_bytes // 2:
            return  # one answer may not push out all the others
        self._last = (None, 0, None)  # it stands for its entry, which may be replaced
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
        self._last = (None, 0, None)
        (path, token, names, _), entry = self._entries.popitem(last=False)
        self.bytes -= entry.size
        shapes = self._shapes[(path, token)]
        shapes[names] -= 1
        if not shapes[names]:
            del shapes[names]
            if not shapes:
                del self._shapes[(path, token)]
