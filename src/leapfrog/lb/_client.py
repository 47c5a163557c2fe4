"""A small Consul HTTP API client for blocking queries (the catalog's or a real Consul's)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import httpx

from leapfrog.shared.errors import LeapfrogError
from leapfrog.shared.tls import verify_for

__all__ = ["CatalogClient", "Reply", "catalog_url"]

# How long one blocking query may wait in the server; the client allows a little more.
BLOCK_SECONDS = 60


def catalog_url(addr: str | None = None) -> str:
    """The catalog's base URL from `addr` or CONSUL_HTTP_ADDR (`host:port` or a URL)."""
    raw = (addr or os.environ.get("CONSUL_HTTP_ADDR") or "127.0.0.1:8500").strip()
    if "://" not in raw:
        scheme = "https" if os.environ.get("CONSUL_HTTP_SSL", "").lower() == "true" else "http"
        raw = f"{scheme}://{raw}"
    if raw.startswith("unix://"):
        raise LeapfrogError(
            f"CONSUL_HTTP_ADDR {raw} is a Unix socket, which the template renderer cannot use",
            hint="give HOST:PORT or an http(s):// URL",
        )
    return raw.rstrip("/")


@dataclass(frozen=True)
class Reply:
    data: Any
    """The JSON body, or None for a 404 (a missing key or service)."""
    index: int


class CatalogClient:
    def __init__(self, addr: str | None = None, token: str | None = None) -> None:
        token = token if token is not None else os.environ.get("CONSUL_HTTP_TOKEN", "")
        headers = {"X-Consul-Token": token} if token else {}
        self.base = catalog_url(addr)
        self._http = httpx.AsyncClient(
            base_url=self.base,
            headers=headers,
            timeout=httpx.Timeout(BLOCK_SECONDS + 10, connect=5.0),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
            verify=verify_for(self.base),
        )

    async def get(self, path: str, params: dict[str, str], index: int = 0) -> Reply:
        """GET `path`; with `index` > 0, a blocking query that returns on a change or after
        BLOCK_SECONDS. Raises httpx.HTTPError or LeapfrogError (403: the token)."""
        query = dict(params)
        if index > 0:
            query |= {"index": str(index), "wait": f"{BLOCK_SECONDS}s"}
        response = await self._http.get(path, params=query)
        new_index = int(response.headers.get("X-Consul-Index", "0") or 0)
        if response.status_code == 404:
            return Reply(None, new_index)
        if response.status_code in (401, 403):
            raise LeapfrogError(
                f"the catalog at {self.base} refused {path}: {response.text.strip()[:200]}",
                hint="set CONSUL_HTTP_TOKEN to a token that may read services and keys",
            )
        response.raise_for_status()
        return Reply(response.json(), new_index)

    async def close(self) -> None:
        await self._http.aclose()
