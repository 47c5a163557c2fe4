"""The HTTP client the drivers talk to their stores with.

Every store a driver reaches speaks plain `http://` on its own address, so the client
never makes a TLS connection: it is built without loading the system's CA bundle, which
httpx otherwise does for each client (~0.1-0.2 s of CPU on the shared machine; a
backup of a store that changed nothing takes about that long in all).
"""

from __future__ import annotations

import httpx

__all__ = ["plain_client"]


def plain_client(base_url: str = "", timeout: httpx.Timeout | float = 60.0) -> httpx.Client:
    """An `httpx.Client` for `http://` URLs only: it loads no CA bundle."""
    if base_url and not base_url.startswith("http://"):
        raise ValueError(f"plain_client is for http:// URLs, not {base_url}")
    return httpx.Client(base_url=base_url, timeout=timeout, verify=False)
