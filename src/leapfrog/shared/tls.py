"""The TLS setting of an HTTP client that only ever talks plain `http://`.

httpx builds a client's default SSL context by loading the system's CA bundle: about
0.1 s of CPU on the shared 2-core machine, for every client, whether or not it ever
makes a TLS connection. A client of a plain-HTTP catalog or store does not need it; one
empty context, made once, serves them all (an `https://` URL would fail to verify, so
the choice is made from the URL).
"""

from __future__ import annotations

import ssl
from functools import cache

__all__ = ["plain_http_context", "verify_for"]


@cache
def plain_http_context() -> ssl.SSLContext:
    """An SSL context with no CA certificates: for clients of `http://` URLs only."""
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def verify_for(url: str) -> ssl.SSLContext | bool:
    """httpx's `verify=` for a client of `url`: the empty context for `http://`, the
    default verification (the CA bundle) for anything else."""
    return plain_http_context() if url.startswith("http://") else True
