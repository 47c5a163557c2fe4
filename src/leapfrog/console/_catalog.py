"""The catalog's HTTP API, called with the logged-in user's token: every read and write
the console makes on the catalog is one the token itself may make."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

import httpx

from leapfrog.console._errors import Unavailable, UserError

__all__ = ["CatalogClient", "TokenInfo"]

_PROBE_KEY = "leapfrog/console/write-probe"
_NEVER = 2**63 - 1
"""A modify index no key ever has: a check-and-set with it writes nothing."""


class TokenInfo(dict[str, Any]):
    """What `/v1/acl/token/self` says, without the secret."""


class CatalogClient:
    def __init__(self, url: str, token: str, client: httpx.AsyncClient) -> None:
        self.url, self.token, self._client = url.rstrip("/"), token, client

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"X-Consul-Token": self.token} if self.token else {}
        try:
            return await self._client.request(
                method, self.url + path, headers=headers, timeout=10.0, **kwargs
            )
        except httpx.HTTPError as exc:
            raise Unavailable(
                f"the catalog at {self.url} does not answer ({type(exc).__name__})",
                "is the stack up? `leapfrog status`",
            ) from None

    async def _json(self, path: str, **params: Any) -> Any:
        response = await self._call("GET", path, params=params)
        if response.status_code == 404:
            return None
        if response.status_code == 403:
            raise UserError(f"the catalog refused: {response.text.strip()}")
        if response.status_code != 200:
            raise UserError(f"the catalog answered {response.status_code}: {response.text[:200]}")
        return response.json()

    async def token_self(self) -> TokenInfo | None:
        """The token's description; None when ACL is off (anyone may do anything). Raises
        UserError for a token the catalog does not know."""
        response = await self._call("GET", "/v1/acl/token/self")
        if response.status_code == 401:
            return None
        if response.status_code != 200:
            raise UserError(
                "the catalog does not know this token", "copy it from `leapfrog secrets catalog`"
            )
        data = response.json()
        data.pop("SecretID", None)
        return TokenInfo(data)

    async def tokens(self) -> list[TokenInfo] | None:
        """The catalog's tokens, oldest first, each without its secret; None when ACL is
        off. Raises UserError when this token may not read ACLs."""
        response = await self._call("GET", "/v1/acl/tokens")
        if response.status_code == 401:
            return None
        if response.status_code == 403:
            raise UserError(
                'your token may not list the catalog\'s tokens: that needs `acl = "read"`',
                "log in with the management token (`leapfrog secrets catalog --show-secrets`)",
            )
        if response.status_code != 200:
            raise UserError(f"the catalog answered {response.status_code}: {response.text[:200]}")
        listed = []
        for stub in response.json():
            stub.pop("SecretID", None)
            listed.append(TokenInfo(stub))
        return listed

    async def can_write(self) -> bool:
        """Whether the token may write KV: a check-and-set that can never succeed, so it
        writes nothing, fails with `Permission denied` only for a read-only token."""
        op = [{"KV": {"Verb": "cas", "Key": _PROBE_KEY, "Value": "", "Index": _NEVER}}]
        response = await self._call("PUT", "/v1/txn", json=op)
        if response.status_code == 200:
            return True
        return "Permission denied" not in response.text

    async def services(self) -> dict[str, list[str]]:
        return dict(await self._json("/v1/catalog/services") or {})

    async def health(self, service: str) -> list[dict[str, Any]]:
        return list(await self._json(f"/v1/health/service/{quote(service, safe='')}") or [])

    async def nodes(self) -> list[dict[str, Any]]:
        return list(await self._json("/v1/catalog/nodes") or [])

    async def kv_keys(self, prefix: str) -> list[str]:
        found = await self._json(f"/v1/kv/{quote(prefix)}", keys="", separator="/")
        return list(found or [])

    async def kv_get(self, key: str) -> dict[str, Any] | None:
        found = await self._json(f"/v1/kv/{quote(key)}")
        if not found:
            return None
        entry: dict[str, Any] = found[0]
        raw = base64.b64decode(entry.get("Value") or b"")
        entry["Text"] = raw.decode("utf-8", "replace")
        entry["Binary"] = not _is_text(raw)
        return entry

    async def kv_put(self, key: str, value: str) -> None:
        await self._write("PUT", key, content=value.encode())

    async def kv_delete(self, key: str, recurse: bool = False) -> None:
        await self._write("DELETE", key, params={"recurse": ""} if recurse else {})

    async def _write(self, method: str, key: str, **kwargs: Any) -> None:
        if not key or key.startswith("/"):
            raise UserError("a key needs a name, without a leading /")
        response = await self._call(method, f"/v1/kv/{quote(key)}", **kwargs)
        if response.status_code == 403:
            raise UserError(
                f"your token may not change {key!r}: {response.text.strip()}",
                "log in with a token that has key write rights",
            )
        if response.status_code != 200:
            raise UserError(f"the catalog answered {response.status_code}: {response.text[:200]}")


def _is_text(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
