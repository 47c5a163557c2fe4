"""Services (Consul UI's pages): services with their instances' health, one service's
instances, checks with output, tags and meta; nodes; the logged-in token and the
catalog's token list (never a secret)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from leapfrog.console._catalog import TokenInfo
from leapfrog.console._errors import UserError
from leapfrog.console._web import catalog, page, session

__all__ = ["services_routes"]

_WORST = {"passing": 0, "warning": 1, "critical": 2}


def _status(entry: dict[str, Any]) -> str:
    checks = entry.get("Checks") or []
    worst = max((_WORST.get(c.get("Status", ""), 2) for c in checks), default=0)
    return {0: "passing", 1: "warning", 2: "critical"}[worst]


async def services(request: Request) -> Response:
    client = catalog(request)
    try:
        names = await client.services()
        rows = []
        for name, tags in sorted(names.items()):
            instances = await client.health(name)
            counts = {"passing": 0, "warning": 0, "critical": 0}
            for entry in instances:
                counts[_status(entry)] += 1
            rows.append({"name": name, "tags": tags, "counts": counts, "total": len(instances)})
        nodes = await client.nodes()
    except UserError as exc:
        return page(request, "services.html", error=exc, rows=[], nodes=[])
    return page(request, "services.html", rows=rows, nodes=nodes)


async def service(request: Request) -> Response:
    name = request.path_params["name"]
    client = catalog(request)
    try:
        known = await client.services()
        if name not in known:
            raise UserError(
                f"there is no service named {name!r} (or your token may not read it)",
                "pick one from the list of services",
            )
        instances = [dict(entry, status=_status(entry)) for entry in await client.health(name)]
    except UserError as exc:
        return page(request, "service.html", error=exc, name=name, instances=[])
    return page(request, "service.html", name=name, instances=instances)


async def token(request: Request) -> Response:
    me = session(request)
    listed: list[TokenInfo] | None = None
    error: UserError | None = None
    try:
        listed = await catalog(request).tokens()
    except UserError as exc:
        error = exc
    return page(
        request,
        "token.html",
        accessor=me.accessor,
        description=me.description,
        tokens=[_token_row(stub) for stub in listed or []],
        acl_on=listed is not None or error is not None,
        error=error,
    )


def _names(links: Any, key: str) -> list[str]:
    return [str(link.get(key, "")) for link in links or [] if isinstance(link, dict)]


def _token_row(stub: dict[str, Any]) -> dict[str, Any]:
    """A token as a row of the list: its links by name, never its secret."""
    return {
        "accessor": str(stub.get("AccessorID", "")),
        "description": str(stub.get("Description", "")),
        "policies": _names(stub.get("Policies"), "Name"),
        "roles": _names(stub.get("Roles"), "Name"),
        "services": _names(stub.get("ServiceIdentities"), "ServiceName"),
        "local": bool(stub.get("Local")),
        "created": str(stub.get("CreateTime", ""))[:19].replace("T", " "),
        "expires": str(stub.get("ExpirationTime") or "")[:19].replace("T", " "),
    }


def services_routes() -> list[Route]:
    return [
        Route("/services", services),
        Route("/services/{name:path}", service),
        Route("/token", token),
    ]
