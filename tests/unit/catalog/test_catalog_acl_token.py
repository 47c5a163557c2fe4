"""/v1/acl/token/self in process: the management token's description, and Consul's
answers for unknown tokens and for ACL turned off."""

from __future__ import annotations

import asyncio
import json
import re

from catalog_fakes import call, header, make_api, make_store

from leapfrog.catalog._api import Api


def answer(api: Api, target: str, **headers: str) -> tuple[int, bytes, str | None]:
    async def main() -> tuple[int, bytes, str | None]:
        response = await call(api, "GET", target, **headers)
        return response.status, response.body, header(response, "X-Consul-Index")

    return asyncio.run(main())


def test_management_token_describes_itself() -> None:
    api = make_api(make_store(), token="s3cret", anonymous_read=True)
    status, body, index = answer(api, "/v1/acl/token/self", X_Consul_Token="s3cret")
    assert status == 200 and index is not None and int(index) >= 1
    token = json.loads(body)
    assert set(token) == {
        "AccessorID", "SecretID", "Description", "Policies", "Local",
        "CreateTime", "Hash", "CreateIndex", "ModifyIndex",
    }  # fmt: skip
    assert token["SecretID"] == "s3cret" and token["Local"] is False
    assert token["Policies"] == [
        {"ID": "00000000-0000-0000-0000-000000000001", "Name": "global-management"}
    ]
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
                        token["AccessorID"])  # fmt: skip
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", token["CreateTime"])
    again = answer(api, "/v1/acl/token/self?token=s3cret")
    assert json.loads(again[1])["AccessorID"] == token["AccessorID"]  # stable, ?token= works
    bearer = answer(api, "/v1/acl/token/self", Authorization="Bearer s3cret")
    assert bearer[0] == 200


def test_unknown_or_missing_token_is_acl_not_found() -> None:
    api = make_api(make_store(), token="s3cret", anonymous_read=True)
    assert answer(api, "/v1/acl/token/self", X_Consul_Token="wrong")[:2] == (403, b"ACL not found")
    assert answer(api, "/v1/acl/token/self")[:2] == (403, b"ACL not found")


def test_acl_disabled_is_401_as_in_consul() -> None:
    api = make_api(make_store())
    assert answer(api, "/v1/acl/token/self")[:2] == (401, b"ACL support disabled")
    assert answer(api, "/v1/acl/token/self", X_Consul_Token="x")[:2] == (
        401,
        b"ACL support disabled",
    )
