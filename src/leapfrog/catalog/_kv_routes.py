"""/v1/kv/*: get (recurse, keys, separator, raw), put (flags, cas, acquire, release),
delete (recurse, cas)."""

from __future__ import annotations

from dataclasses import dataclass

from leapfrog.catalog._api import Call, Reply, Route
from leapfrog.catalog._body import BadRequest
from leapfrog.catalog._kvstore import KVStore
from leapfrog.catalog._params import query_uint
from leapfrog.catalog._render import kv_json
from leapfrog.catalog._sessions import SessionStore

__all__ = ["MAX_VALUE_BYTES", "kv_routes"]

MAX_VALUE_BYTES = 512 * 1024


@dataclass
class _KVQuery:
    kv: KVStore

    def validate(self, call: Call) -> None:
        if not call.rest and not (call.flag("recurse") or call.flag("keys")):
            raise BadRequest("Missing key name")

    def watch(self, call: Call) -> tuple[tuple[str, ...], str | None]:
        return (), call.rest

    def index(self, call: Call) -> int:
        return self.kv.index(call.rest, prefix=call.flag("recurse") or call.flag("keys"))

    def reply(self, call: Call) -> Reply:
        key = call.rest
        if call.flag("keys"):
            separator = call.params.get("separator", "")
            keys: list[str] = []
            for entry in self.kv.under(key):
                name = entry.key
                if separator:
                    cut = name.find(separator, len(key))
                    if cut >= 0:
                        name = name[: cut + len(separator)]
                if not keys or keys[-1] != name:
                    keys.append(name)
            return Reply(keys) if keys else Reply(raw=b"", status=404)
        if call.flag("recurse"):
            entries = self.kv.under(key)
            if not entries:
                return Reply(raw=b"", status=404)
            return Reply([kv_json(e) for e in entries])
        found = self.kv.get(key)
        if found is None:
            return Reply(raw=b"", status=404)
        if call.flag("raw"):
            return Reply(raw=found.value, content_type="text/plain; charset=utf-8")
        return Reply([kv_json(found)])


def _lock(kv: KVStore, sessions: SessionStore, call: Call, flags: int) -> Reply:
    """?acquire= / ?release=: Consul's texts and 500s for a missing or unknown session."""
    acquire = "acquire" in call.params
    session = call.params["acquire" if acquire else "release"]
    if not session:
        raise BadRequest("missing session", 500)
    body = call.request.body
    if acquire:
        if sessions.get(session) is None:
            raise BadRequest(f'invalid session "{session}"', 500)
        return Reply(kv.acquire(call.rest, body, flags, session, sessions.now()))
    return Reply(kv.release(call.rest, body, flags, session))


def kv_routes(kv: KVStore, sessions: SessionStore) -> list[Route]:
    async def put(call: Call) -> Reply:
        if not call.rest:
            raise BadRequest("Missing key name")
        body = call.request.body
        if len(body) > MAX_VALUE_BYTES:
            raise BadRequest(
                f"Request body({len(body)} bytes) too large, max size: {MAX_VALUE_BYTES} bytes. "
                "See https://developer.hashicorp.com/docs/agent/config/config-files#kv_max_value_size.",
                413,
            )
        flags = query_uint(call.params, "flags") or 0
        cas = query_uint(call.params, "cas")
        # As in Consul, ?cas wins over ?acquire/?release when both are given.
        if cas is None and ("acquire" in call.params or "release" in call.params):
            return _lock(kv, sessions, call, flags)
        return Reply(kv.put(call.rest, body, flags, cas))

    async def delete(call: Call) -> Reply:
        recurse = call.flag("recurse")
        if not call.rest and not recurse:
            raise BadRequest("Missing key name")
        return Reply(kv.delete(call.rest, recurse, query_uint(call.params, "cas")))

    async def dispatch(call: Call) -> Reply:
        return await (put(call) if call.request.method in ("PUT", "POST") else delete(call))

    return [
        Route(("GET", "PUT", "DELETE"), "/v1/kv/", True, action=dispatch, query=_KVQuery(kv)),
    ]
