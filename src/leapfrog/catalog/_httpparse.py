"""An incremental HTTP/1.1 request parser: bytes in, requests (or one error) out.

It never raises on bad input: a malformed request yields an `HttpError` (400, 413, 431,
501, 505) after which the connection is closed. Pure and synchronous, so it is fuzzed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote_to_bytes

__all__ = ["HttpError", "Request", "RequestParser"]

MAX_HEADER_BYTES = 64 * 1024
MAX_HEADERS = 100
MAX_BODY_BYTES = 4 * 1024 * 1024

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_REQUEST_LINE = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (\S+) HTTP/(\d)\.(\d)")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,8})(?:;[^\r\n]*)?")


@dataclass(frozen=True)
class HttpError:
    status: int
    text: str


@dataclass
class Request:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes = b""
    keep_alive: bool = True
    raw_query: str = ""
    params: dict[str, str] = field(default_factory=dict)
    """The first value of each query parameter."""


class RequestParser:
    def __init__(
        self, max_header_bytes: int = MAX_HEADER_BYTES, max_body_bytes: int = MAX_BODY_BYTES
    ) -> None:
        self._buffer = bytearray()
        self._max_header = max_header_bytes
        self._max_body = max_body_bytes
        self._head: Request | None = None
        self._length = 0
        self._chunked = False
        self._body = bytearray()
        self.failed = False

    @property
    def partial(self) -> bool:
        """A request has started but is not complete."""
        return bool(self._buffer) or self._head is not None

    def feed(self, data: bytes) -> list[Request | HttpError]:
        if self.failed:
            return []
        self._buffer += data
        out: list[Request | HttpError] = []
        while True:
            try:
                item = self._next()
            except _Fail as fail:
                self.failed = True
                out.append(fail.error)
                return out
            if item is None:
                return out
            out.append(item)

    def _next(self) -> Request | None:
        if self._head is None:
            # Tolerate stray blank lines between requests (RFC 9112 §2.2).
            while self._buffer[:2] == b"\r\n":
                del self._buffer[:2]
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > self._max_header:
                    raise _Fail(431, "Request Header Fields Too Large")
                return None
            if end > self._max_header:
                raise _Fail(431, "Request Header Fields Too Large")
            head = bytes(self._buffer[:end])
            del self._buffer[: end + 4]
            self._head = self._parse_head(head)
        return self._parse_body()

    def _parse_head(self, head: bytes) -> Request:
        lines = head.split(b"\r\n")
        match = _REQUEST_LINE.fullmatch(lines[0])
        if match is None:
            raise _Fail(400, "Bad Request: malformed request line")
        method, target, major, minor = match.groups()
        if major != b"1":
            raise _Fail(505, "HTTP Version Not Supported")
        if len(lines) - 1 > MAX_HEADERS:
            raise _Fail(431, "Request Header Fields Too Large")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon or not _TOKEN.fullmatch(name):
                raise _Fail(400, "Bad Request: malformed header line")
            key = name.decode().lower()
            text = value.strip(b" \t").decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        request = self._target(method.decode(), target, headers)
        connection = headers.get("connection", "").lower()
        request.keep_alive = (
            "close" not in connection if minor != b"0" else "keep-alive" in connection
        )
        self._framing(headers)
        return request

    def _target(self, method: str, target: bytes, headers: dict[str, str]) -> Request:
        if not target.startswith(b"/"):
            raise _Fail(400, "Bad Request: the request target must be a path")
        raw_path, _, raw_query = target.partition(b"?")
        try:
            path = unquote_to_bytes(raw_path).decode("utf-8")
            query_text = raw_query.decode("ascii")
            query = parse_qsl(query_text, keep_blank_values=True, errors="strict")
        except (UnicodeDecodeError, ValueError):
            raise _Fail(400, "Bad Request: the request target is not valid URL encoding") from None
        params: dict[str, str] = {}
        for key, value in query:
            params.setdefault(key, value)
        return Request(method, path, query, headers, raw_query=query_text, params=params)

    def _framing(self, headers: dict[str, str]) -> None:
        encoding = headers.get("transfer-encoding")
        length = headers.get("content-length")
        self._chunked = False
        self._length = 0
        if encoding is not None:
            if length is not None:
                raise _Fail(400, "Bad Request: both Content-Length and Transfer-Encoding")
            if encoding.lower() != "chunked":
                raise _Fail(501, f"Not Implemented: Transfer-Encoding {encoding}")
            self._chunked = True
        elif length is not None:
            if not length.isdigit() or len(length) > 15:
                raise _Fail(400, "Bad Request: invalid Content-Length")
            self._length = int(length)
            if self._length > self._max_body:
                raise _Fail(413, "Request body too large")

    def _parse_body(self) -> Request | None:
        assert self._head is not None
        if self._chunked:
            if not self._read_chunks():
                return None
            body = bytes(self._body)
            self._body.clear()
        else:
            if len(self._buffer) < self._length:
                return None
            body = bytes(self._buffer[: self._length])
            del self._buffer[: self._length]
        request, self._head = self._head, None
        request.body = body
        return request

    def _read_chunks(self) -> bool:
        """Move complete chunks from the buffer to the body; True at the last chunk."""
        while True:
            end = self._buffer.find(b"\r\n")
            if end < 0:
                if len(self._buffer) > 1024:
                    raise _Fail(400, "Bad Request: malformed chunk size")
                return False
            match = _CHUNK_SIZE.fullmatch(bytes(self._buffer[:end]))
            if match is None:
                raise _Fail(400, "Bad Request: malformed chunk size")
            size = int(match.group(1), 16)
            if size == 0:
                # Last chunk: skip trailers up to the blank line.
                close = self._buffer.find(b"\r\n\r\n", end)
                if close < 0:
                    if len(self._buffer) > self._max_header:
                        raise _Fail(431, "Request Header Fields Too Large")
                    return False
                del self._buffer[: close + 4]
                return True
            if len(self._body) + size > self._max_body:
                raise _Fail(413, "Request body too large")
            start = end + 2
            if len(self._buffer) < start + size + 2:
                return False
            if self._buffer[start + size : start + size + 2] != b"\r\n":
                raise _Fail(400, "Bad Request: malformed chunk")
            self._body += self._buffer[start : start + size]
            del self._buffer[: start + size + 2]


class _Fail(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.error = HttpError(status, text)
