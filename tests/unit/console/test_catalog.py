"""The console's catalog client against a catalog answered in-process: the token list
never carries a secret, ACL off is no list, and a token without `acl = read` is a
sentence saying what to do."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from leapfrog.console._catalog import CatalogClient
from leapfrog.console._errors import UserError

STUBS = [
    {
        "AccessorID": "a-1",
        "SecretID": "s3cr3t-1",
        "Description": "web-1",
        "ServiceIdentities": [{"ServiceName": "web"}],
    },
    {"AccessorID": "a-2", "SecretID": "<hidden>", "Description": "read"},
]


def _tokens(status: int, body: object) -> list[dict[str, Any]] | None:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/acl/tokens"
        assert request.headers["X-Consul-Token"] == "mine"
        return httpx.Response(status, text=body if isinstance(body, str) else json.dumps(body))

    async def call() -> list[dict[str, Any]] | None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
            found = await CatalogClient("http://catalog", "mine", http).tokens()
            return None if found is None else [dict(t) for t in found]

    return asyncio.run(call())


def test_the_list_keeps_everything_but_the_secrets() -> None:
    listed = _tokens(200, STUBS)
    assert listed is not None
    assert [t["AccessorID"] for t in listed] == ["a-1", "a-2"]
    assert "s3cr3t" not in json.dumps(listed) and "SecretID" not in json.dumps(listed)


def test_acl_off_is_no_list() -> None:
    assert _tokens(401, "ACL support disabled") is None


def test_a_token_without_acl_read_is_told_what_to_do() -> None:
    with pytest.raises(UserError) as refused:
        _tokens(403, "Permission denied")
    assert 'acl = "read"' in refused.value.message
    assert "management token" in (refused.value.hint or "")
