"""Finding other services: the healthy instances of a name, kept current by a
blocking-query watch, and an HTTP client that spreads calls over them."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from leapfrog.service._consul import ConsulAgent, ConsulError, consul_url

if TYPE_CHECKING:
    from leapfrog.service._identity import Identity

__all__ = ["Discovery", "NoInstances", "ServiceClient", "ServiceInstance", "discover"]

log = logging.getLogger("leapfrog.service")


class NoInstances(Exception):
    """No healthy instance of the service is in the catalog."""


@dataclass(frozen=True)
class ServiceInstance:
    id: str
    service: str
    address: str
    port: int
    tags: tuple[str, ...] = ()
    meta: Mapping[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}"


def _instances(entries: list[dict[str, Any]]) -> list[ServiceInstance]:
    found = []
    for entry in entries:
        svc = entry.get("Service") or {}
        address = svc.get("Address") or (entry.get("Node") or {}).get("Address", "")
        found.append(
            ServiceInstance(
                id=svc.get("ID", ""),
                service=svc.get("Service", ""),
                address=address,
                port=int(svc.get("Port") or 0),
                tags=tuple(svc.get("Tags") or ()),
                meta=dict(svc.get("Meta") or {}),
            )
        )
    return sorted(found, key=lambda i: i.id)


class _Watch:
    def __init__(self, agent: ConsulAgent, name: str, wait: float) -> None:
        self.agent, self.name, self.wait = agent, name, wait
        self.index = 0
        self.instances: list[ServiceInstance] = []
        self.changed = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def first(self) -> None:
        self.index, entries = await self.agent.healthy(self.name)
        self.instances = _instances(entries)
        self.task = asyncio.create_task(self._follow())

    async def _follow(self) -> None:
        delay = 0.2
        while True:
            try:
                index, entries = await self.agent.healthy(
                    self.name, index=self.index, wait=self.wait
                )
            except ConsulError as exc:
                log.debug("watch of %s: %s", self.name, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            delay = 0.2
            # An index going backwards means the catalog was reset: start over, as Consul's
            # blocking-query rules ask.
            self.index = index if index >= self.index else 0
            found = _instances(entries)
            if found != self.instances:
                self.instances = found
                self.changed.set()
                self.changed = asyncio.Event()


class Discovery:
    """Healthy instances by service name, from one catalog. The first lookup of a name
    asks the catalog; later lookups answer from a cache a background watch keeps current."""

    def __init__(self, agent: ConsulAgent, *, wait: float = 60.0) -> None:
        self.agent = agent
        self.wait = wait
        self._watches: dict[str, _Watch] = {}
        self._lock = asyncio.Lock()

    @classmethod
    def from_env(cls) -> Discovery:
        url = consul_url(os.environ.get("CONSUL_HTTP_ADDR", "127.0.0.1:8500"))
        return cls(ConsulAgent(url, os.environ.get("CONSUL_HTTP_TOKEN") or None))

    async def instances(self, name: str) -> list[ServiceInstance]:
        watch = self._watches.get(name)
        if watch is None:
            async with self._lock:
                watch = self._watches.get(name)
                if watch is None:
                    watch = _Watch(self.agent, name, self.wait)
                    await watch.first()
                    self._watches[name] = watch
        return list(watch.instances)

    async def changed(self, name: str) -> list[ServiceInstance]:
        """Wait for the next change of `name`'s healthy instances and return them."""
        await self.instances(name)
        watch = self._watches[name]
        await watch.changed.wait()
        return list(watch.instances)

    async def close(self) -> None:
        for watch in self._watches.values():
            if watch.task is not None:
                watch.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watch.task
        self._watches.clear()
        await self.agent.close()


_default: Discovery | None = None


async def discover(name: str) -> list[ServiceInstance]:
    """The healthy instances of `name` from the catalog in CONSUL_HTTP_ADDR (cached,
    watched). Raises ConsulError when the catalog cannot be reached on the first call."""
    global _default
    if _default is None:
        _default = Discovery.from_env()
    return await _default.instances(name)


class ServiceClient:
    """An httpx client for one service: each request goes to the next healthy instance
    (round robin); a connection refused moves on to the next one. With an `identity`
    (`Service.identity` when identity is on), it calls over mTLS: it presents its own
    leaf certificate and accepts only an instance whose certificate, from the same CA,
    names the service it called."""

    def __init__(
        self,
        name: str,
        discovery: Discovery | None = None,
        *,
        identity: Identity | None = None,
        **client_options: Any,
    ) -> None:
        self.name = name
        self.discovery = discovery or Discovery.from_env()
        self.identity = identity
        if identity is not None:
            # Here, not at the top: the identity module loads cryptography.
            from leapfrog.service._identity import server_named

            client_options["verify"] = identity.client_context()
            self._named = server_named(name)
        self.http = httpx.AsyncClient(**client_options)
        self._turn = itertools.count()

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        instances = await self.discovery.instances(self.name)
        if not instances:
            raise NoInstances(f"no healthy instance of {self.name!r} in the catalog")
        start = next(self._turn)
        last: Exception | None = None
        for step in range(len(instances)):
            instance = instances[(start + step) % len(instances)]
            url = instance.url + path
            if self.identity is not None:
                url = "https" + url[len("http") :]
                # The certificate is checked against the service's name, not the address.
                kwargs["extensions"] = {
                    **kwargs.get("extensions", {}),
                    "sni_hostname": self.name,
                    "trace": self._named,
                }
            try:
                return await self.http.request(method, url, **kwargs)
            except httpx.ConnectError as exc:
                last = exc
        raise NoInstances(f"every instance of {self.name!r} refused the connection: {last}")

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", path, **kwargs)

    async def aclose(self) -> None:
        await self.http.aclose()
