"""The KV browser and editor: folders by `/`, a value's text, create, edit and delete
(a folder with everything under it), each write with the user's token and CSRF token."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from leapfrog.console._errors import UserError
from leapfrog.console._web import catalog, page, write_form

__all__ = ["kv_routes"]


def _parent(key: str) -> str:
    trimmed = key.rstrip("/")
    return trimmed.rpartition("/")[0] + "/" if "/" in trimmed else ""


async def browse(request: Request, error: UserError | None = None, notice: str = "") -> Response:
    prefix = request.query_params.get("prefix", "")
    key = request.query_params.get("key")
    client = catalog(request)
    keys: list[str] = []
    entry = None
    try:
        if key is not None:
            entry = await client.kv_get(key)
            if entry is None and error is None:
                raise UserError(f"there is no key {key!r}", "create it with the form below")
            prefix = _parent(key)
        keys = await client.kv_keys(prefix)
    except UserError as exc:
        error = error or exc
    crumbs = []
    walked = ""
    for part in [p for p in prefix.split("/") if p]:
        walked += part + "/"
        crumbs.append((part, walked))
    return page(
        request,
        "kv.html",
        error=error,
        notice=notice,
        prefix=prefix,
        keys=keys,
        key=key,
        entry=entry,
        crumbs=crumbs,
    )


async def save(request: Request) -> Response:
    try:
        form = await write_form(request)
        key = str(form.get("key") or "").strip()
        await catalog(request).kv_put(key, str(form.get("value") or ""))
    except UserError as exc:
        return await browse(request, exc)
    return RedirectResponse(f"/kv?key={quote(key)}&saved=1", status_code=303)


async def delete(request: Request) -> Response:
    try:
        form = await write_form(request)
        key = str(form.get("key") or "")
        await catalog(request).kv_delete(key, recurse=key.endswith("/"))
    except UserError as exc:
        return await browse(request, exc)
    return RedirectResponse(f"/kv?prefix={quote(_parent(key))}", status_code=303)


def kv_routes() -> list[Route]:
    return [
        Route("/kv", browse, methods=["GET"]),
        Route("/kv", save, methods=["POST"]),
        Route("/kv/delete", delete, methods=["POST"]),
    ]
