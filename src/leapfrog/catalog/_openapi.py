"""The OpenAPI 3 description of the served API, at GET /v1/leapfrog/openapi.json."""

from __future__ import annotations

from typing import Any

from leapfrog.catalog._api import Call, Reply, Route

__all__ = ["openapi_document", "openapi_routes"]


def openapi_document() -> dict[str, Any]:
    return {"openapi": "3.0.3", "info": {"title": "leapfrog catalog", "version": "1"}, "paths": {}}


def openapi_routes() -> list[Route]:
    document = openapi_document()

    async def serve_document(call: Call) -> Reply:
        return Reply(document)

    return [Route(("GET",), "/v1/leapfrog/openapi.json", action=serve_document)]
