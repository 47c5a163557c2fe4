"""Self-registration in the catalog: register once serving, keep the registration alive
(TTL heartbeats, or noticing that the catalog forgot us), deregister on shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from typing import Any

from leapfrog.service._consul import ConsulAgent, ConsulError
from leapfrog.service._health import Health
from leapfrog.service._settings import ServiceSettings
from leapfrog.shared.durations import format_duration

__all__ = ["Registration", "advertised_address", "service_definition"]

log = logging.getLogger("leapfrog.service")

_WATCH_WAIT = 60.0
"""Longest wait of the blocking query a non-TTL instance keeps on its registration."""


def advertised_address(settings: ServiceSettings) -> str:
    """The address others reach this instance at: HOST, unless it is a wildcard (in a pod),
    then POD_IP or the address the host name resolves to."""
    if settings.host not in ("0.0.0.0", "::", ""):
        return settings.host
    pod_ip = os.environ.get("POD_IP")
    if pod_ip:
        return pod_ip
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


def _go(seconds: float) -> str:
    return format_duration(seconds).replace(" ", "")


def service_definition(settings: ServiceSettings) -> dict[str, Any]:
    """The body of PUT /v1/agent/service/register for this instance."""
    address = advertised_address(settings)
    meta = {"instance": settings.instance, "hostname": settings.hostname, **settings.meta}
    if settings.version:
        meta["version"] = settings.version
    if settings.identity:
        # It serves mutual TLS: the load balancer presents its own certificate to it.
        meta["mtls"] = "true"
    definition: dict[str, Any] = {
        "ID": settings.service_id,
        "Name": settings.name,
        "Address": address,
        "Port": settings.port,
        "Tags": list(settings.tags),
        "Meta": meta,
    }
    check: dict[str, Any] = {
        "CheckID": f"service:{settings.service_id}",
        # The instance registers only once it serves: starting critical (Consul's default)
        # would keep it out of the load balancer for a check interval, and in a rolling
        # update that is a moment with no instance at all.
        "Status": "passing",
        "Name": f"{settings.name} {settings.check} check",
        "DeregisterCriticalServiceAfter": _go(settings.deregister_after),
    }
    if settings.check == "http":
        scheme = "https" if settings.identity else "http"
        check["HTTP"] = f"{scheme}://{address}:{settings.port}/health/ready"
        if settings.identity:  # the catalog reads /health without a mesh certificate
            check["TLSSkipVerify"] = True
        check["Interval"] = _go(settings.check_interval)
        check["Timeout"] = _go(max(0.5, min(settings.check_interval, 5.0)))
    elif settings.check == "tcp":
        check["TCP"] = f"{address}:{settings.port}"
        check["Interval"] = _go(settings.check_interval)
        check["Timeout"] = _go(max(0.5, min(settings.check_interval, 5.0)))
    elif settings.check == "ttl":
        check["TTL"] = _go(settings.ttl)
    else:
        return definition
    definition["Check"] = check
    return definition


class Registration:
    """One instance's registration; `run()` is a task for the life of the service."""

    def __init__(self, settings: ServiceSettings, agent: ConsulAgent, health: Health) -> None:
        self.settings = settings
        self.agent = agent
        self.health = health
        self.registered = asyncio.Event()
        self.registrations = 0
        """How many times this instance registered (more than 1: the catalog forgot it)."""
        self._stopping = False

    @property
    def check_id(self) -> str:
        return f"service:{self.settings.service_id}"

    async def register(self) -> None:
        await self.agent.register(service_definition(self.settings))
        self.registrations += 1
        self.registered.set()
        if self.settings.check == "ttl":
            await self._heartbeat()
        log.info(
            "registered in the catalog",
            extra={"service_id": self.settings.service_id, "check": self.settings.check},
        )

    async def run(self) -> None:
        """Register (retrying while the catalog is down), then keep the registration."""
        delay = 0.2
        while not self._stopping:
            try:
                if not self.registered.is_set():
                    await self.register()
                    delay = 0.2
                await self._keep()
            except ConsulError as exc:
                if self._stopping:
                    return
                log.warning("catalog: %s; retrying in %.1fs", exc, delay)
                self.registered.clear()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _keep(self) -> None:
        """Return (with `registered` cleared) when the catalog no longer knows us."""
        if self.settings.check == "ttl":
            await self._keep_ttl()
            return
        # A blocking query on our own registration: it costs one request per minute while
        # nothing changes, and answers at once when the catalog loses us.
        content_hash = ""
        while not self._stopping:
            found = await self.agent.service_hash(
                self.settings.service_id, hash=content_hash, wait=_WATCH_WAIT
            )
            if self._stopping:
                return
            if found is None:
                log.warning("the catalog forgot this instance; registering again")
                self.registered.clear()
                return
            content_hash = found if found != "-" else ""
            if not content_hash:
                await asyncio.sleep(_WATCH_WAIT)  # a catalog without hashes: poll slowly

    async def _keep_ttl(self) -> None:
        changed = self.health.bind()
        period = max(self.settings.ttl / 3, 0.05)
        while not self._stopping:
            changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), period)
            if self._stopping:
                return
            await self._heartbeat()

    async def _heartbeat(self) -> None:
        status, reason = self.health.effective()
        try:
            await self.agent.update_ttl(self.check_id, status, reason)
        except ConsulError as exc:
            # The catalog restarted without our check, or a real Consul reaped it: Consul
            # answers 404 "Unknown check ID" / 500 "does not have associated TTL".
            if exc.status in (404, 500) or "check" in str(exc).lower():
                self.registered.clear()
                raise ConsulError(f"heartbeat refused ({exc}); registering again") from None
            raise

    async def deregister(self, timeout: float = 3.0) -> bool:
        """Leave the catalog; False when it could not be told (it will reap us instead)."""
        self._stopping = True
        self.health.notify()
        try:
            await asyncio.wait_for(self.agent.deregister(self.settings.service_id), timeout)
        except (ConsulError, TimeoutError) as exc:
            log.warning("could not deregister from the catalog: %s", exc)
            return False
        log.info("deregistered from the catalog")
        return True
