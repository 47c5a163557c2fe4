"""HashiCorp's own programs for the catalog's conformance tests: consul-template,
`consulapi` (tools/consulapi, a small program on github.com/hashicorp/consul/api) and
`consul` 1.20 itself (tools/consul), built from Go modules by scripts/consul-tools.sh into
the cache."""

from __future__ import annotations

from pathlib import Path

from leapfrog.shared.cache import cache_dir
from leapfrog.shared.errors import LeapfrogError

__all__ = ["CONSUL_TEMPLATE_VERSION", "consul_tool"]

CONSUL_TEMPLATE_VERSION = "v0.41.1"


def consul_tool(name: str) -> Path:
    """The path of `consul-template`, `consulapi` or `consul`; an error that says how to
    build them."""
    path = cache_dir() / "consul-tools" / CONSUL_TEMPLATE_VERSION / "bin" / name
    if not path.is_file():
        raise LeapfrogError(
            f"{name} is not built ({path} is missing)",
            hint="run scripts/consul-tools.sh to build HashiCorp's Consul clients",
        )
    return path
