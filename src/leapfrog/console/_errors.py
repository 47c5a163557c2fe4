"""One kind of error a page shows: what went wrong, in a sentence, and what to do."""

from __future__ import annotations

__all__ = ["Unavailable", "UserError"]


class UserError(Exception):
    """Bad input (a malformed query, a time range in the future), or a write the token
    may not make: shown on the page with `status`."""

    status = 400

    def __init__(self, message: str, hint: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.message, self.hint = message, hint
        if status is not None:
            self.status = status


class Unavailable(UserError):
    """A store the page reads (OpenSearch, InfluxDB, the catalog, Flink) does not answer."""

    status = 503
