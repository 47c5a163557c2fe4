"""HTTP/1.1 requests from bytes, on llhttp (Node's parser, through `httptools`).

llhttp does the framing (request line, headers, Content-Length, chunked bodies,
pipelining) and refuses malformed input; this module adds the catalog's limits and turns
each message into a `Request`. It never raises on bad input: a malformed request yields
an `HttpError` (400, 413, 431, 501, 505) after which the connection is closed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import overload
from urllib.parse import parse_qsl, unquote_to_bytes

import httptools

from leapfrog.catalog._params import parse_uint

__all__ = ["HttpError", "QueryParams", "Request", "RequestParser"]

MAX_HEADER_BYTES = 64 * 1024
MAX_HEADERS = 100
MAX_BODY_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class HttpError:
    status: int
    text: str


class QueryParams(dict[str, str]):
    """The first value of each query parameter, remembering which names were looked up
    (`read`): the reply cache keys an answer on those only."""

    __slots__ = ("read",)

    def __init__(self) -> None:
        super().__init__()
        self.read: set[str] = set()

    @overload  # type: ignore[override]
    def get(self, key: str, default: None = None) -> str | None: ...

    @overload
    def get(self, key: str, default: str) -> str: ...

    def get(self, key: str, default: str | None = None) -> str | None:
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.read.add(key)
        return super().__contains__(key)


@dataclass
class Request:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes = b""
    keep_alive: bool = True
    raw_query: str = ""
    params: QueryParams = field(default_factory=QueryParams)
    """The first value of each query parameter (lookups recorded)."""

    def values(self, name: str) -> list[str]:
        """Every value of query parameter `name`, in order (recorded as read)."""
        self.params.read.add(name)
        return [v for k, v in self.query if k == name]


class _Fail(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.error = HttpError(status, text)


class RequestParser:
    """Feed bytes as they arrive; complete requests (or one final error) come out.

    Head size is counted as llhttp reports its parts (the target, each header); a head
    still incomplete is also counted by the bytes fed while it is open, so llhttp never
    holds more than about two reads' worth of an unfinished header.
    """

    def __init__(
        self,
        max_header_bytes: int = MAX_HEADER_BYTES,
        max_body_bytes: int = MAX_BODY_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._llhttp = httptools.HttpRequestParser(self)
        self._max_header = max_header_bytes
        self._max_body = max_body_bytes
        self._clock = clock
        self._out: list[Request | HttpError] = []
        self._url = bytearray()
        self._headers: dict[str, str] = {}
        self._head_bytes = self._head_fed = 0
        """The head's size two ways, each never more than the truth: its parts as llhttp
        reports them (target, headers), and the bytes fed while it was open."""
        self._in_head = False
        self._in_message = False
        self._body: list[bytes] = []
        self._body_bytes = 0
        self._framing = 0
        """Bytes fed to a body in progress since body data last came out of it."""
        self._request: Request | None = None
        self.failed = False
        self.started = 0.0
        """Clock time the request being received began (valid while `partial`)."""

    @property
    def partial(self) -> bool:
        """A request has started but is not complete."""
        return self._in_message

    @property
    def buffered(self) -> int:
        """Bytes of the request being received held so far (head parts and body)."""
        return max(self._head_fed, self._head_bytes) + self._body_bytes

    def feed(self, data: bytes) -> list[Request | HttpError]:
        if self.failed:
            return []
        self._out = []
        try:
            self._feed(data)
        except httptools.HttpParserUpgrade:
            # Upgrades (WebSocket, h2c, CONNECT) are not served: answer what was asked
            # and close, as the bytes after it belong to another protocol.
            self._close_after_last()
        except httptools.HttpParserError as exc:
            fail = exc.__context__
            if isinstance(fail, _Fail):
                self._stop(fail.error)
            else:
                self._stop(HttpError(400, f"Bad Request: {exc}"))
        except _Fail as fail:
            self._stop(fail.error)
        out, self._out = self._out, []
        return out

    def _feed(self, data: bytes) -> None:
        if not self._in_head:
            in_body, delivered, done = self._in_message, self._body_bytes, len(self._out)
            self._llhttp.feed_data(data)
            if self._in_head and not self._out:  # everything fed was this unfinished head
                self._head_fed = max(self._head_fed, len(data))
                self._check_head()
            elif in_body and len(self._out) == done:  # everything fed was this body
                self._check_framing(len(data), self._body_bytes - delivered)
            return
        # An open head: feed no more than its allowance, so llhttp cannot be made to
        # hold a header without end.
        view = memoryview(data)
        allowance = max(0, self._max_header - self._head_fed) + 1
        piece, before, done = view[:allowance], self._head_fed, len(self._out)
        self._llhttp.feed_data(piece)
        if self._in_head and len(self._out) == done:  # all of the piece was this head
            self._head_fed = before + len(piece)
            self._check_head()
        if len(view) > allowance:
            self._feed(bytes(view[allowance:]))

    def _check_framing(self, fed: int, delivered: int) -> None:
        """Bytes of a body that are not body (chunk sizes, extensions, trailers): llhttp
        buffers a trailer header until it ends, so they are bounded like a head."""
        self._framing = fed - delivered if delivered else self._framing + fed
        if self._framing > self._max_header:
            raise _Fail(431, "Request Header Fields Too Large: chunk framing or trailers")

    def _check_head(self) -> None:
        if self._in_head and max(self._head_fed, self._head_bytes) > self._max_header:
            raise _Fail(431, "Request Header Fields Too Large")

    def _stop(self, error: HttpError) -> None:
        self.failed = True
        self._out.append(error)

    def _close_after_last(self) -> None:
        self.failed = True
        if self._out and isinstance(self._out[-1], Request):
            self._out[-1].keep_alive = False
        else:
            self._out.append(HttpError(400, "Bad Request: protocol upgrades are not supported"))

    # ---- llhttp callbacks ---------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._in_head = self._in_message = True
        self._url.clear()
        self._headers = {}
        self._head_bytes = self._head_fed = 0
        self._body = []
        self._body_bytes = self._framing = 0
        self.started = self._clock()

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._head_bytes += len(url)
        self._check_head()

    def on_header(self, name: bytes, value: bytes) -> None:
        # Called for every header of every request: kept to the fewest steps.
        self._head_bytes += len(name) + len(value) + 4
        headers = self._headers
        if self._head_bytes > self._max_header or len(headers) >= MAX_HEADERS:
            raise _Fail(431, "Request Header Fields Too Large")
        key = name.decode("latin-1").lower()
        text = value.strip(b" \t").decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text

    def on_headers_complete(self) -> None:
        self._in_head = False
        if not self._llhttp.get_http_version().startswith("1."):
            raise _Fail(505, "HTTP Version Not Supported")
        headers = self._headers
        encoding = headers.get("transfer-encoding")
        if encoding is not None and encoding.lower() != "chunked":
            raise _Fail(501, f"Not Implemented: Transfer-Encoding {encoding}")
        length = headers.get("content-length")
        if length is not None:
            size = parse_uint(length)  # llhttp has checked it; this keeps the bound
            if size is None:
                raise _Fail(400, "Bad Request: invalid Content-Length")
            if size > self._max_body:
                raise _Fail(413, "Request body too large")
        method = self._llhttp.get_method().decode("ascii")
        self._request = _target(method, bytes(self._url), headers)
        self._request.keep_alive = self._llhttp.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        if self._body_bytes > self._max_body:
            raise _Fail(413, "Request body too large")
        self._body.append(body)

    def on_message_complete(self) -> None:
        request, self._request = self._request, None
        self._in_message = False
        self._head_bytes = self._head_fed = self._body_bytes = 0
        if request is None:  # pragma: no cover - llhttp completes only after the head
            raise _Fail(400, "Bad Request")
        request.body = b"".join(self._body)
        self._body = []
        self._out.append(request)


def _target(method: str, target: bytes, headers: dict[str, str]) -> Request:
    if not target.startswith(b"/"):
        raise _Fail(400, "Bad Request: the request target must be a path")
    raw_path, _, raw_query = target.partition(b"?")
    try:
        path = unquote_to_bytes(raw_path).decode("utf-8")
        query_text = raw_query.decode("ascii")
        query = parse_qsl(query_text, keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise _Fail(400, "Bad Request: the request target is not valid URL encoding") from None
    params = QueryParams()
    for key, value in query:
        params.setdefault(key, value)  # dict's own: building is not reading
    return Request(method, path, query, headers, raw_query=query_text, params=params)
