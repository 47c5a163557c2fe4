"""PUT /v1/txn: Consul's transaction endpoint, KV operations.

The body is a JSON list of `{"KV": {"Verb", "Key", "Value" (base64), "Flags", "Index",
"Session"}}`, at most 128 of them (413 otherwise, Consul's limit and text). A body that
does not decode is a 400 `Failed to parse body: ...`. The answer is 200
`{"Results": [{"KV": ...}], "Errors": null}` or, when any operation failed and nothing
was applied, 409 `{"Results": null, "Errors": [{"OpIndex", "What"}]}`. Node, Service and
Check operations are not supported: they fail the transaction (409) with a text that says
so. A transaction without writes answers the index headers, as Consul's read-only
transactions do.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from leapfrog.catalog._api import Call, Reply, Route
from leapfrog.catalog._body import BadRequest, Fields, decode_json
from leapfrog.catalog._kv_routes import MAX_VALUE_BYTES
from leapfrog.catalog._render import kv_json
from leapfrog.catalog._store import Store
from leapfrog.catalog._txn import KVOp, run_kv_txn

__all__ = ["MAX_TXN_OPS", "parse_txn", "txn_routes"]

MAX_TXN_OPS = 128
_UINT64 = 2**64 - 1


def _parse_error(text: str) -> BadRequest:
    return BadRequest(f"Failed to parse body: {text}")


def _uint(fields: Fields, name: str) -> int:
    value = fields.raw(name)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _UINT64:
        raise _parse_error(f"{name} must be an unsigned integer")
    return value


def _value(fields: Fields) -> bytes:
    raw = fields.raw("Value")
    if raw is None:
        return b""
    if not isinstance(raw, str):
        raise _parse_error("Value must be a base64 string")
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _parse_error(f"illegal base64 data: {exc}") from None


def parse_txn(body: bytes) -> list[KVOp | None]:
    """The operations; None for one that is not a KV operation (Node, Service, Check)."""
    try:
        data = decode_json(body) if body.strip() else None
    except ValueError as exc:
        raise _parse_error(str(exc)) from None
    if not isinstance(data, list):
        raise _parse_error("the body must be a JSON list of operations")
    if len(data) > MAX_TXN_OPS:
        raise BadRequest(
            f"Transaction contains too many operations ({len(data)} > {MAX_TXN_OPS})", 413
        )
    return [_op(item) for item in data]


def _op(item: Any) -> KVOp | None:
    if not isinstance(item, dict):
        raise _parse_error("each operation must be a JSON object")
    fields = Fields(item, "op").obj("KV")
    if fields is None:
        return None
    op = KVOp(
        fields.text("Verb"),
        fields.text("Key"),
        _value(fields),
        _uint(fields, "Flags"),
        _uint(fields, "Index"),
        fields.text("Session"),
    )
    if len(op.value) > MAX_VALUE_BYTES:
        raise BadRequest(
            f'Value for key "{op.key}" is too large ({len(op.value)} > {MAX_VALUE_BYTES} bytes)',
            413,
        )
    return op


def txn_routes(store: Store) -> list[Route]:
    async def txn(call: Call) -> Reply:
        parsed = parse_txn(call.request.body)
        ops = [op for op in parsed if op is not None]
        if len(ops) < len(parsed):
            what = "leapfrog supports KV operations only (not Node, Service or Check)"
            errors = [{"OpIndex": n, "What": what} for n, op in enumerate(parsed) if op is None]
            return Reply({"Results": None, "Errors": errors}, status=409)
        outcome = run_kv_txn(store.kv, store.sessions, ops)
        if outcome.errors:
            errors = [{"OpIndex": n, "What": what} for n, what in outcome.errors]
            return Reply({"Results": None, "Errors": errors}, status=409)
        results = []
        for entry, with_value in outcome.results:
            rendered = kv_json(entry)
            if not with_value:
                rendered["Value"] = None
            results.append({"KV": rendered})
        reply = Reply({"Results": results or None, "Errors": None})
        if not outcome.index:
            reply.index = max(1, store.log.index)
        return reply

    return [Route(("PUT",), "/v1/txn", action=txn)]
