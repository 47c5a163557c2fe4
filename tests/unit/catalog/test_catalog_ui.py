"""/ui: Consul's UI address leads to the stack's console, for every caller (the console
asks for a token itself); without a console it says how to get one."""

from __future__ import annotations

import asyncio

from catalog_fakes import call, header, make_store

from leapfrog.catalog._acl import AclConfig
from leapfrog.catalog._acl_enforce import AclGuard
from leapfrog.catalog._api import Api
from leapfrog.catalog._standalone_routes import standalone_routes


def _get(ui_url: str | None, target: str) -> tuple[int, bytes, str | None]:
    store = make_store()
    acl = AclConfig("s3cret", (), False)
    api = Api(store, standalone_routes(store, ui_url), AclGuard(store, acl))

    async def main() -> tuple[int, bytes, str | None]:
        response = await call(api, "GET", target)
        return response.status, response.body, header(response, "Location")

    return asyncio.run(main())


def test_ui_redirects_to_the_console_without_a_token() -> None:
    for target in ("/ui", "/ui/", "/ui/dc1/services"):
        status, _, location = _get("http://127.0.0.1:8900", target)
        assert (status, location) == (302, "http://127.0.0.1:8900/")


def test_ui_without_a_console_says_how_to_get_one() -> None:
    status, body, location = _get(None, "/ui/")
    assert status == 404 and location is None
    assert b"`console` component" in body
