"""One query in, at most one response out: the part of the server that never raises."""

from __future__ import annotations

import logging

from leapfrog.catalog.dns._answers import Zone, build_answer
from leapfrog.catalog.dns._frozen import FrozenView
from leapfrog.catalog.dns._message import (
    Answer,
    encode_bare,
    encode_response,
    most_groups_that_could_fit,
    response_limit,
)
from leapfrog.catalog.dns._names import Outside, parse_name
from leapfrog.catalog.dns._wire import DnsFormatError, Rcode, decode_query, read_header_id
from leapfrog.catalog.dns.view import DnsView

__all__ = ["Responder"]

log = logging.getLogger(__name__)

_MAX_REMEMBERED_FAILURES = 256


class Responder:
    def __init__(self, view: DnsView, zone: Zone) -> None:
        self._view = view
        self._zone = zone
        self._seen_failures: set[str] = set()
        self.failures = 0
        """Queries answered SERVFAIL because building the answer raised."""

    def outside(self, data: bytes) -> bool:
        """Whether `data` is a query for a name outside the served domain (for recursors:
        Consul forwards those, whatever their type)."""
        try:
            query = decode_query(data)
        except DnsFormatError:
            return False
        if query.opcode != 0:
            return False
        labels = tuple(label.lower() for label in query.labels)
        return isinstance(parse_name(labels, self._zone.domain, ""), Outside)

    def freeze(self, data: bytes) -> DnsView | None:
        """What answering `data` reads from the view, read now (on the loop), for
        `respond(data, view=...)` on another thread; None when the answer is best made
        here (not a query, malformed, or the view failed: `respond` answers those)."""
        try:
            query = decode_query(data)
            if query.opcode != 0:
                return None
            return FrozenView(self._view, self._zone, query)
        except Exception:
            return None

    def respond(self, data: bytes, *, tcp: bool, view: DnsView | None = None) -> bytes | None:
        """The response to send, or None when the bytes do not deserve one. `view`: a
        `freeze`d copy to answer from (off the loop), instead of the live view."""
        header = read_header_id(data)
        if header is None:
            return None
        try:
            query = decode_query(data)
        except DnsFormatError:
            return encode_bare(*header, Rcode.FORMERR)
        if query.opcode != 0:
            # Header only: UPDATE/NOTIFY sections mean other things than a question does.
            return encode_bare(*header, Rcode.NOTIMP)
        limit = response_limit(query, tcp=tcp)
        try:
            # One group past what could fit tells the encoder there is more: TC.
            max_groups = most_groups_that_could_fit(limit) + 1
            answer = build_answer(self._zone, view or self._view, query, max_groups)
            return encode_response(query, answer, limit)
        except Exception as exc:  # a bug or a view failure must not kill the listener
            self._log_failure(query.name, query.qtype, exc)
        try:
            return encode_response(query, Answer(Rcode.SERVFAIL, authoritative=False), limit)
        except Exception:
            return encode_bare(*header, Rcode.SERVFAIL)

    def _log_failure(self, name: str, qtype: int, exc: Exception) -> None:
        # Once per distinct failure: a client retrying a bad name must not flood the log.
        self.failures += 1
        signature = f"{type(exc).__name__}: {exc}"[:200]
        if signature in self._seen_failures:
            return
        if len(self._seen_failures) < _MAX_REMEMBERED_FAILURES:
            self._seen_failures.add(signature)
        log.error("DNS query %r (type %d) failed, answered SERVFAIL", name, qtype, exc_info=exc)
