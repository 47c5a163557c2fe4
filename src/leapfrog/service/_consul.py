"""The few Consul HTTP API calls the SDK makes, async over httpx. Only the documented
Consul API is used, so the SDK works against leapfrog's catalog and a real Consul alike."""

from __future__ import annotations

from typing import Any

import httpx

from leapfrog.service._transport import PlainTransport
from leapfrog.shared.tls import verify_for

__all__ = ["ConsulAgent", "ConsulError", "consul_url"]


def consul_url(addr: str) -> str:
    """CONSUL_HTTP_ADDR as a URL: Consul's tools accept `host:port` or a full URL."""
    return addr if addr.startswith(("http://", "https://")) else f"http://{addr}"


class ConsulError(Exception):
    """The catalog answered with an error, or could not be reached."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ConsulAgent:
    """Agent endpoints of one catalog; `transport` lets tests plug in their own."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 5.0,
    ) -> None:
        headers = {"X-Consul-Token": token} if token else {}
        # A plain-HTTP catalog (leapfrog's own) needs neither the CA bundle (~0.1 s of CPU
        # to load) nor httpcore and anyio (~50 ms to load and start): each instance paid
        # both between serving and being registered.
        if transport is None and url.startswith("http://"):
            transport = PlainTransport()
        self._http = httpx.AsyncClient(
            base_url=url,
            headers=headers,
            timeout=timeout,
            transport=transport,
            verify=verify_for(url),
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def _call(
        self, method: str, path: str, *, json: Any = None, params: Any = None, timeout: Any = None
    ) -> httpx.Response:
        try:
            kwargs: dict[str, Any] = {"json": json, "params": params}
            if timeout is not None:
                kwargs["timeout"] = timeout
            response = await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ConsulError(f"catalog unreachable at {self._http.base_url}: {exc!r}") from None
        return response

    async def _ok(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = await self._call(method, path, **kwargs)
        if response.status_code >= 300:
            text = response.text.strip()[:300]
            raise ConsulError(
                f"{method} {path}: {response.status_code} {text}", response.status_code
            )
        return response

    async def register(self, definition: dict[str, Any]) -> None:
        await self._ok("PUT", "/v1/agent/service/register", json=definition)

    async def deregister(self, service_id: str) -> None:
        await self._ok("PUT", f"/v1/agent/service/deregister/{service_id}")

    async def service_hash(
        self, service_id: str, *, hash: str = "", wait: float = 60.0
    ) -> str | None:
        """The ContentHash of our registration, None when the agent does not know it.
        With `hash`, a blocking query: it returns when the registration changes."""
        params = {"hash": hash, "wait": f"{int(wait * 1000)}ms"} if hash else None
        response = await self._call(
            "GET", f"/v1/agent/service/{service_id}", params=params, timeout=wait + 10
        )
        if response.status_code == 404:
            return None
        if response.status_code >= 300:
            raise ConsulError(f"agent service {service_id}: {response.status_code}")
        return response.headers.get("X-Consul-ContentHash", "") or "-"

    async def update_ttl(self, check_id: str, status: str, output: str) -> None:
        await self._ok(
            "PUT", f"/v1/agent/check/update/{check_id}", json={"Status": status, "Output": output}
        )

    async def healthy(
        self, service: str, *, index: int = 0, wait: float = 60.0, tag: str | None = None
    ) -> tuple[int, list[dict[str, Any]]]:
        """Passing instances of `service`; with `index`, a blocking query that returns when
        the result changes or `wait` elapses. Returns (X-Consul-Index, entries)."""
        params: dict[str, Any] = {"passing": "1"}
        if index:
            params["index"] = str(index)
            params["wait"] = f"{int(wait * 1000)}ms"
        if tag:
            params["tag"] = tag
        response = await self._ok(
            "GET", f"/v1/health/service/{service}", params=params, timeout=wait + 10
        )
        new_index = int(response.headers.get("X-Consul-Index", "0") or 0)
        entries: list[dict[str, Any]] = response.json() or []
        return new_index, entries

    async def _blocking(
        self, path: str, params: dict[str, Any], index: int, wait: float
    ) -> tuple[int, Any]:
        if index:
            params = {**params, "index": str(index), "wait": f"{int(wait * 1000)}ms"}
        response = await self._ok("GET", path, params=params or None, timeout=wait + 10)
        return int(response.headers.get("X-Consul-Index", "0") or 0), response.json()

    async def connect_roots(self, *, index: int = 0, wait: float = 60.0) -> tuple[int, Any]:
        """The service mesh's CA roots (Consul's `/v1/agent/connect/ca/roots`)."""
        return await self._blocking("/v1/agent/connect/ca/roots", {}, index, wait)

    async def connect_leaf(
        self, service: str, *, index: int = 0, wait: float = 60.0
    ) -> tuple[int, Any]:
        """`service`'s leaf certificate and key; with `index`, returns with the next one."""
        return await self._blocking(f"/v1/agent/connect/ca/leaf/{service}", {}, index, wait)

    async def intentions_to(
        self, destination: str, *, index: int = 0, wait: float = 60.0
    ) -> tuple[int, Any]:
        """The intentions that decide who may call `destination` (a blocking query)."""
        params = {"by": "destination", "name": destination}
        return await self._blocking("/v1/connect/intentions/match", params, index, wait)

    async def authorize(self, target: str, uri: str, serial: str) -> tuple[bool, str]:
        """Whether the caller whose certificate names `uri` may call `target`, and why."""
        body = {"Target": target, "ClientCertURI": uri, "ClientCertSerial": serial}
        answer = (await self._ok("POST", "/v1/agent/connect/authorize", json=body)).json()
        return bool(answer.get("Authorized")), str(answer.get("Reason", ""))
