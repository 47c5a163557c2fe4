"""`Service`: an ASGI app run the platform's way - health endpoints, metrics, catalog
registration, logs and metrics to Kafka, and a graceful drain on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import uvicorn

from leapfrog.service._asgi import ASGIApp, PlatformMiddleware
from leapfrog.service._consul import ConsulAgent
from leapfrog.service._cork import corked_protocol
from leapfrog.service._health import Health
from leapfrog.service._identity import Identity, IdentityGate, identity_protocol
from leapfrog.service._metrics import RequestMetrics, new_registry
from leapfrog.service._registration import Registration
from leapfrog.service._server import DrainingServer
from leapfrog.service._settings import CheckMode, ServiceSettings, SettingsError

__all__ = ["Service", "run"]

log = logging.getLogger("leapfrog.service")


class Service:
    """Wraps `app` (Starlette, FastAPI or plain ASGI). Settings come from the environment
    leapfrog hands every instance (see docs/sdk.md); keyword arguments override them."""

    def __init__(
        self,
        app: ASGIApp,
        name: str | None = None,
        *,
        check: CheckMode | None = None,
        settings: ServiceSettings | None = None,
        **overrides: Any,
    ) -> None:
        if check is not None:
            overrides["check"] = check
        if settings is None:
            settings = ServiceSettings.from_env(name, **overrides)
        elif overrides:
            settings = settings.with_(**overrides)
        self.settings = settings
        self.health = Health()
        self.registry = new_registry()
        self.metrics = RequestMetrics(self.registry)
        self.identity: Identity | None = None
        """This service's certificates and callers' checks (None: identity is off)."""
        if settings.identity:
            if not settings.consul_url:
                raise SettingsError(
                    "LEAPFROG_IDENTITY=on needs the catalog (CONSUL_HTTP_ADDR) for certificates"
                )
            agent = ConsulAgent(settings.consul_url, settings.consul_token)
            self.identity = Identity(agent, settings.name)
            app = IdentityGate(app, self.identity)
        self.app = PlatformMiddleware(
            app, health=self.health, metrics=self.metrics, hostname=settings.hostname
        )
        # Telemetry loads confluent-kafka: only a running Service pays for the import.
        from leapfrog.service._telemetry import Telemetry

        self.telemetry = Telemetry(settings, self.registry)
        self.registration: Registration | None = None
        self.server: DrainingServer | None = None
        self.stopped = asyncio.Event()

    @property
    def logger(self) -> logging.Logger:
        return logging.getLogger(self.settings.name)

    def run(self) -> None:
        """Serve until SIGTERM/SIGINT, drain, flush, and return (the process exits 0)."""
        import uvloop

        self.telemetry.configure_logging()
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(self.serve())

    async def serve(self) -> None:
        settings = self.settings
        self.telemetry.start()
        if self.identity is not None:
            await self.identity.start()
        self.server = DrainingServer(self.server_config(), self._begin_drain)
        serving = asyncio.create_task(self.server.serve())
        keeper: asyncio.Task[None] | None = None
        try:
            while not self.server.started and not serving.done():
                await asyncio.sleep(0.005)
            if serving.done():
                await serving
                return
            self.health.phase = "ready"
            self.health.notify()
            log.info("serving on %s:%d", settings.host, settings.port)
            if settings.register and settings.consul_url and settings.check is not None:
                agent = ConsulAgent(settings.consul_url, settings.consul_token)
                self.registration = Registration(settings, agent, self.health)
                keeper = asyncio.create_task(self.registration.run())
            await serving
        finally:
            if keeper is not None:
                keeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await keeper
            if self.registration is not None:
                await self.registration.agent.close()
            if self.identity is not None:
                await self.identity.close()
                await self.identity.agent.close()
            log.info("stopped")
            await asyncio.to_thread(self.telemetry.close)
            self.stopped.set()

    def server_config(self) -> uvicorn.Config:
        """The uvicorn configuration `serve` runs (bench/sdk.py measures its request path)."""
        settings = self.settings
        identity = self.identity
        tls: dict[str, Any] = {}
        if identity is not None:
            tls = {
                "http": identity_protocol(),
                "ssl_context_factory": lambda _config, _default: identity.server_context(),
            }
        return uvicorn.Config(
            self.app,
            host=settings.host,
            port=settings.port,
            # One write per response (status line, headers and body), plain or TLS.
            http=tls.pop("http", corked_protocol()),
            **tls,
            lifespan="auto",
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=int(settings.shutdown_timeout) or 1,
        )

    def stop(self) -> None:
        """Begin the graceful shutdown, as SIGTERM does."""
        if self.server is not None:
            self.server.request_stop()

    def _begin_drain(self) -> None:
        asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        """Not ready; out of the catalog; wait until no load balancer picks us; close."""
        assert self.server is not None
        self.health.phase = "draining"
        self.health.notify()
        log.info("draining for %.1fs", self.settings.drain)
        if self.registration is not None:
            await self.registration.deregister()
        await asyncio.sleep(self.settings.drain)
        self.server.should_exit = True


def run(app: ASGIApp, name: str | None = None, **overrides: Any) -> None:
    """`Service(app, name, **overrides).run()`: the one line a service's main needs."""
    Service(app, name, **overrides).run()
