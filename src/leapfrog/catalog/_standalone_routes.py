"""What a lone Consul agent answers for features leapfrog's catalog has no use for:
network coordinates (one node, at the origin), prepared queries (none), and the host it
runs on. Clients that call these (the consul CLI, consul-template's `node` sorting,
monitoring) then get Consul's shapes instead of a 404 they do not expect."""

from __future__ import annotations

from typing import Any

from leapfrog.catalog._api import Call, Reply, Route
from leapfrog.catalog._body import BadRequest
from leapfrog.catalog._host import host_info
from leapfrog.catalog._index import NODES
from leapfrog.catalog._store import Store

__all__ = ["standalone_routes"]


_BLOCKING = (("X-Consul-Query-Backend", "blocking-query"),)


def _coordinate() -> dict[str, Any]:
    """A new Serf coordinate (Vivaldi's defaults: 8 dimensions at the origin)."""
    return {"Vec": [0.0] * 8, "Error": 1.5, "Adjustment": 0.0, "Height": 1e-05}


def standalone_routes(store: Store, ui_url: str | None = None) -> list[Route]:
    def entry() -> dict[str, Any]:
        return {"Node": store.node_name, "Segment": "", "Coord": _coordinate()}

    def index() -> int:
        return store.log.of(NODES)

    async def coordinate_nodes(call: Call) -> Reply:
        return Reply([entry()], index=index(), headers=list(_BLOCKING))

    async def coordinate_node(call: Call) -> Reply:
        if call.rest.lower() != store.node_name.lower():
            return Reply(raw=b"", status=404, index=index(), headers=list(_BLOCKING))
        return Reply([entry()], index=index(), headers=list(_BLOCKING))

    async def coordinate_datacenters(call: Call) -> Reply:
        wan = {"Node": f"{store.node_name}.{store.datacenter}", "Coord": _coordinate()}
        return Reply([{"Datacenter": store.datacenter, "AreaID": "WAN", "Coordinates": [wan]}])

    async def host(call: Call) -> Reply:
        return Reply(host_info())

    async def queries(call: Call) -> Reply:
        if call.request.method == "POST":
            raise BadRequest(
                "Prepared queries are not supported by leapfrog's catalog; "
                "query /v1/health/service/<name> instead"
            )
        # Consul's index of a table never written, and its headers of a leader read.
        headers = [*_BLOCKING, ("X-Consul-Effective-Consistency", "leader")]
        return Reply([], index=1, headers=headers)

    async def ui(call: Call) -> Reply:
        # Consul serves its UI at /ui; leapfrog's is the console, a unit of its own.
        if ui_url is None:
            text = "this catalog has no UI of its own: add the `console` component to the stack\n"
            return Reply(raw=text.encode(), status=404)
        target = ui_url.rstrip("/") + "/"
        return Reply(raw=f"see {target}\n".encode(), status=302, headers=[("Location", target)])

    get = ("GET",)
    return [
        Route(("GET", "HEAD"), "/ui", True, action=ui),
        Route(get, "/v1/coordinate/nodes", action=coordinate_nodes),
        Route(get, "/v1/coordinate/node/", True, action=coordinate_node),
        Route(get, "/v1/coordinate/datacenters", action=coordinate_datacenters),
        Route(get, "/v1/agent/host", action=host),
        Route(("GET", "POST"), "/v1/query", action=queries),
    ]
