"""The embedded Consul-compatible catalog: HTTP API, blocking queries, KV, ACL, DNS, checks.

Embed it with `serve(CatalogConfig(...))` (runs until its stop event is set) or
`start(config)` (returns a `RunningCatalog` to `close()`).
"""

from leapfrog.catalog._acl import AclConfig, AclError, accessor_of
from leapfrog.catalog._config import CatalogConfig
from leapfrog.catalog._server import RunningCatalog, serve, start

__all__ = [
    "AclConfig",
    "AclError",
    "CatalogConfig",
    "RunningCatalog",
    "accessor_of",
    "serve",
    "start",
]
