"""/v1/event/fire/<name> and /v1/event/list: Consul's user events on one agent.

As in Consul, events are not stored in the catalog's state: the agent keeps the last 256
it received, in memory. An event reaches this agent unless its node, service or tag
filter (regular expressions) excludes it. The list's X-Consul-Index is derived from the
last event's ID (Consul's uuidToUint64), so a blocking list returns as soon as that
changes rather than when it rises.
"""

from __future__ import annotations

import base64
import re
import time
import uuid
from collections import deque
from typing import Any

from leapfrog.catalog._api import Call, Reply, Route, blocking_params
from leapfrog.catalog._body import BadRequest
from leapfrog.catalog._store import Store

__all__ = ["event_index", "event_routes"]

EVENTS = "events"
_KEPT = 256
_SIZE_LIMIT = 512  # bytes of name and payload: serf's default user event size limit


def event_index(event_id: str) -> int:
    """Consul's index of an event: the two halves of its UUID xor-ed."""
    digits = event_id.replace("-", "")
    return int(digits[:16], 16) ^ int(digits[16:], 16)


def _regex(call: Call, name: str) -> re.Pattern[str] | None:
    text = call.params.get(name, "")
    if not text:
        return None
    try:
        return re.compile(text)
    except (re.error, OverflowError, RecursionError) as exc:
        raise BadRequest(f"Invalid {name} filter: {exc}") from None


class _Events:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.kept: deque[dict[str, Any]] = deque(maxlen=_KEPT)
        self.ltime = 0

    def reaches_us(self, node: re.Pattern[str] | None, service: re.Pattern[str] | None,
                   tag: re.Pattern[str] | None) -> bool:  # fmt: skip
        """Consul's agent keeps an event only when its filters match this agent."""
        if node is not None and not node.match(self.store.node_name):
            return False
        if service is None:
            return True
        return any(
            service.match(svc.name) and (tag is None or any(tag.match(t) for t in svc.tags))
            for svc in self.store.services.values()
        )

    def fire(self, call: Call) -> dict[str, Any]:
        name = call.rest
        if not name:
            raise BadRequest("Missing name")
        node, service, tag = (_regex(call, f) for f in ("node", "service", "tag"))
        if tag is not None and service is None:
            raise BadRequest("Cannot provide tag filter without service filter")
        payload = call.request.body
        if len(name.encode()) + len(payload) > _SIZE_LIMIT:
            raise BadRequest(f"user event exceeds the limit of {_SIZE_LIMIT} bytes")
        event = {
            "ID": str(uuid.uuid4()),
            "Name": name,
            "Payload": base64.b64encode(payload).decode() if payload else None,
            "NodeFilter": call.params.get("node", ""),
            "ServiceFilter": call.params.get("service", ""),
            "TagFilter": call.params.get("tag", ""),
            "Version": 1,
            "LTime": 0,
        }
        if self.reaches_us(node, service, tag):
            self.ltime += 1
            self.kept.append({**event, "LTime": self.ltime})
            self.store.hub.notify((EVENTS,))
        return event

    def listed(self, name: str) -> tuple[int, list[dict[str, Any]]]:
        events = [e for e in self.kept if not name or e["Name"] == name]
        return (event_index(events[-1]["ID"]) if events else 1), events


def event_routes(store: Store) -> list[Route]:
    events = _Events(store)

    async def fire(call: Call) -> Reply:
        return Reply(events.fire(call))

    async def listing(call: Call) -> Reply:
        wanted, wait = blocking_params(call)
        name = call.params.get("name", "")
        index, found = events.listed(name)
        deadline = time.monotonic() + wait
        while wanted and index == wanted and (remaining := deadline - time.monotonic()) > 0:
            await store.hub.wait((EVENTS,), None, remaining)
            index, found = events.listed(name)
        # Consul sends the index alone here, not the leader headers of catalog reads.
        return Reply(found, headers=[("X-Consul-Index", str(index))])

    return [
        Route(("PUT",), "/v1/event/fire/", True, action=fire),
        Route(("GET",), "/v1/event/list", action=listing),
    ]
