"""Service identity: the SDK's side of the catalog's service mesh (Consul Connect's
"native" integration).

When `LEAPFROG_IDENTITY=on` (the supervisor sets it when the stack turns identity on),
the service fetches its leaf certificate (`/v1/agent/connect/ca/leaf/<name>`) and the
CA roots, and keeps both current with blocking queries (a leaf is replaced before it
expires; the TLS contexts load the new one, so new connections use it and none fails).

Server side: TLS with the leaf; a caller's certificate must chain to the roots (checked
by OpenSSL during the handshake) and its SPIFFE ID must be allowed by the intentions
(`/v1/agent/connect/authorize`, whose answers are cached until an intention for this
service changes; a blocking query on `/v1/connect/intentions/match` notices that within
milliseconds). The handler finds the caller's service name in `request.state.caller`
(ASGI: `scope["state"]["caller"]`). A denied caller gets 403 with the catalog's reason;
a request without a certificate gets 403 too, except `/health/*` and `/metrics`, which
the catalog's checks and Prometheus read without one (so the handshake asks for a
certificate but does not demand it).

Client side: `client_context()` presents this service's leaf and trusts only the roots;
`ServiceClient` uses it and checks, right after the handshake and before the request is
sent, that the answering instance's certificate names the service it meant to call: by
its SPIFFE ID (`.../svc/<name>`), as Consul's own proxies do, since HashiCorp Consul's
leaf certificates carry no DNS name for a host-name check (`server_named`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import ssl
import tempfile
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import httpcore
from cryptography import x509

from leapfrog.service._consul import ConsulAgent, ConsulError

__all__ = ["IDENTITY_ENV", "Identity", "IdentityGate", "peer_identity", "server_named"]

IDENTITY_ENV = "LEAPFROG_IDENTITY"
"""`on` turns service identity on (mTLS with the catalog's certificates, intentions)."""

log = logging.getLogger("leapfrog.service")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_OPEN_PATHS = ("/health/", "/metrics")


def peer_identity(der: bytes | None) -> tuple[str, str] | None:
    """(SPIFFE URI, colon-hex serial) of a peer certificate, None without one."""
    if not der:
        return None
    cert = x509.load_der_x509_certificate(der)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    if not uris:
        return None
    serial = cert.serial_number
    raw = serial.to_bytes(max(1, (serial.bit_length() + 7) // 8), "big")
    return uris[0], ":".join(f"{b:02x}" for b in raw)


def _service_of(uri: str) -> str:
    return uri.rsplit("/svc/", 1)[-1] if "/svc/" in uri else ""


def server_named(service: str) -> Callable[[str, dict[str, Any]], Awaitable[None]]:
    """An httpx `trace` extension that refuses a connection, right after its TLS
    handshake and before any request goes out, unless the server's certificate names
    `service` (its SPIFFE ID's `/svc/<service>`)."""

    async def check(event: str, info: dict[str, Any]) -> None:
        if event != "connection.start_tls.complete":
            return
        stream = info["return_value"]
        ssl_object = stream.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        peer = peer_identity(der)
        named = _service_of(peer[0]) if peer else ""
        if named != service:
            await stream.aclose()
            raise httpcore.ConnectError(
                f"the certificate of the instance called names {named or 'no service'!r}, "
                f"not {service!r}"
            )

    return check


class Identity:
    """One service's certificates and its authorization cache. `await start()` fetches
    them and follows changes until `close()`."""

    def __init__(self, agent: ConsulAgent, service: str, *, wait: float = 60.0) -> None:
        self.agent = agent
        self.service = service
        self.wait = wait
        self._dir = Path(tempfile.mkdtemp(prefix=f"leapfrog-identity-{service}-"))
        os.chmod(self._dir, 0o700)
        self.cert_path = self._dir / "leaf.pem"
        self.key_path = self._dir / "leaf.key"
        self.roots_pem = ""
        self.leaf: dict[str, Any] = {}
        self._contexts: list[ssl.SSLContext] = []
        self._decisions: dict[tuple[str, str], tuple[bool, str]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.rotations = 0
        """Leaves received after the first (a metric and a test's evidence)."""

    async def start(self) -> None:
        roots_index, roots = await self.agent.connect_roots()
        self._set_roots(roots)
        leaf_index, leaf = await self.agent.connect_leaf(self.service)
        self._set_leaf(leaf)
        match_index, _ = await self.agent.intentions_to(self.service)
        self._tasks = [
            asyncio.create_task(self._follow_leaf(leaf_index)),
            asyncio.create_task(self._follow_roots(roots_index)),
            asyncio.create_task(self._follow_intentions(match_index)),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        shutil.rmtree(self._dir, ignore_errors=True)

    # -- TLS contexts ---------------------------------------------------------------------

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.verify_mode = ssl.CERT_OPTIONAL  # /health and /metrics need none
        self._load(context)
        return context

    def client_context(self) -> ssl.SSLContext:
        """Presents this service's leaf; trusts only the roots. Which service answered is
        checked by its SPIFFE ID (`server_named`), not by host name."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.check_hostname = False  # still CERT_REQUIRED: it must chain to the roots
        self._load(context)
        return context

    def _load(self, context: ssl.SSLContext) -> None:
        context.load_cert_chain(self.cert_path, self.key_path)
        context.load_verify_locations(cadata=self.roots_pem)
        self._contexts.append(context)

    def _set_roots(self, roots: dict[str, Any]) -> None:
        self.roots_pem = "".join(str(r["RootCert"]) for r in roots.get("Roots") or [])
        for context in self._contexts:
            context.load_verify_locations(cadata=self.roots_pem)

    def _set_leaf(self, leaf: dict[str, Any]) -> None:
        self.leaf = leaf
        for path, text in (
            (self.cert_path, leaf["CertPEM"]),
            (self.key_path, leaf["PrivateKeyPEM"]),
        ):
            partial = path.with_name(path.name + ".partial")
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(text)
            os.replace(partial, path)
        for context in self._contexts:
            context.load_cert_chain(self.cert_path, self.key_path)

    # -- following the catalog ------------------------------------------------------------

    async def _follow(
        self,
        what: str,
        index: int,
        fetch: Callable[[int], Awaitable[tuple[int, Any]]],
        apply: Callable[[Any], None],
    ) -> None:
        delay = 0.2
        while True:
            try:
                new_index, data = await fetch(index)
            except ConsulError as exc:
                log.warning("identity: reading %s failed (%s); retrying", what, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            delay = 0.2
            if new_index != index:
                apply(data)
            index = new_index if new_index >= index else 0

    async def _follow_leaf(self, index: int) -> None:
        def apply(leaf: Any) -> None:
            if leaf.get("SerialNumber") != self.leaf.get("SerialNumber"):
                self._set_leaf(leaf)
                self.rotations += 1
                log.info("identity: new certificate, valid until %s", leaf.get("ValidBefore"))

        await self._follow(
            "the leaf certificate",
            index,
            lambda i: self.agent.connect_leaf(self.service, index=i, wait=self.wait),
            apply,
        )

    async def _follow_roots(self, index: int) -> None:
        await self._follow(
            "the CA roots",
            index,
            lambda i: self.agent.connect_roots(index=i, wait=self.wait),
            self._set_roots,
        )

    async def _follow_intentions(self, index: int) -> None:
        await self._follow(
            "the intentions",
            index,
            lambda i: self.agent.intentions_to(self.service, index=i, wait=self.wait),
            lambda _data: self._decisions.clear(),
        )

    # -- authorization --------------------------------------------------------------------

    def cached(self, peer: tuple[str, str]) -> tuple[bool, str] | None:
        """The decision on this caller since the intentions last changed, if any."""
        return self._decisions.get(peer)

    async def authorize(self, uri: str, serial: str) -> tuple[bool, str]:
        """Whether the caller may call this service, and the catalog's reason."""
        key = (uri, serial)
        decision = self._decisions.get(key)
        if decision is None:
            decision = await self.agent.authorize(self.service, uri, serial)
            if len(self._decisions) > 10_000:
                self._decisions.clear()
            self._decisions[key] = decision
        return decision


async def _forbidden(send: Send, text: str) -> None:
    body = text.encode()
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class IdentityGate:
    """ASGI middleware: lets in the callers the intentions allow, names them to the app
    (`scope["state"]["caller"]`), and answers 403 with the reason to the others. The peer
    certificate is what the server's protocol put in `scope["extensions"]["tls"]`."""

    def __init__(self, app: ASGIApp, identity: Identity) -> None:
        self.app = app
        self.identity = identity

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(_OPEN_PATHS):
            await self.app(scope, receive, send)
            return
        tls = (scope.get("extensions") or {}).get("tls") or {}
        peer = tls.get("leapfrog_peer")
        if peer is None:
            await _forbidden(
                send,
                "a client certificate is required: this service accepts callers with a "
                "certificate from the catalog's CA (identity is on)",
            )
            return
        uri, serial = peer
        try:
            decision = self.identity.cached(peer)
            allowed, reason = decision or await self.identity.authorize(uri, serial)
        except ConsulError as exc:
            log.warning("identity: authorize failed: %s", exc)
            await _forbidden(send, f"the caller could not be authorized: {exc}")
            return
        if not allowed:
            await _forbidden(send, f"caller {_service_of(uri)!r} is not allowed: {reason}")
            return
        scope.setdefault("state", {})["caller"] = _service_of(uri)
        await self.app(scope, receive, send)


def identity_protocol() -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol (one write per response, `_cork.py`), which also hands
    the peer certificate's identity to the app (`scope["extensions"]["tls"]
    ["leapfrog_peer"]`): uvicorn itself does not."""
    from leapfrog.service._cork import corked_protocol

    class IdentityProtocol(corked_protocol()):  # type: ignore[misc]
        _extensions: dict[str, Any] = {"tls": {"leapfrog_peer": None}}  # noqa: RUF012

        def connection_made(self, transport: asyncio.Transport) -> None:
            # Read once per connection (after its handshake), shared by its requests.
            ssl_object = transport.get_extra_info("ssl_object")
            if ssl_object is not None:
                peer = peer_identity(ssl_object.getpeercert(binary_form=True))
                self._extensions = {"tls": {"leapfrog_peer": peer}}
            super().connection_made(transport)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self.scope["extensions"] = self._extensions

    return IdentityProtocol
