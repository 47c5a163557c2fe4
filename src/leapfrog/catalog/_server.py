"""The running catalog: store + journal + HTTP API + DNS + health checker, and its loops."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Callable
from typing import Any

from leapfrog import __version__
from leapfrog.catalog._acl import Authorizer
from leapfrog.catalog._acl_enforce import AclGuard
from leapfrog.catalog._acl_routes import acl_routes
from leapfrog.catalog._agent_health import agent_health_routes
from leapfrog.catalog._agent_routes import agent_routes
from leapfrog.catalog._api import Api, Call, request_token
from leapfrog.catalog._catalog_routes import catalog_routes
from leapfrog.catalog._config import CatalogConfig
from leapfrog.catalog._connect_ca import CertificateAuthority
from leapfrog.catalog._connect_routes import DefaultPolicy, connect_routes
from leapfrog.catalog._dnsview import StoreDnsView
from leapfrog.catalog._event_routes import event_routes
from leapfrog.catalog._httpserver import HttpServer
from leapfrog.catalog._journal import DirectoryBusy, Journal
from leapfrog.catalog._kv_routes import kv_routes
from leapfrog.catalog._metrics import CONSUL_VERSION, metrics_routes
from leapfrog.catalog._openapi import openapi_routes
from leapfrog.catalog._persist import capture_store, restore_store
from leapfrog.catalog._read_routes import read_routes
from leapfrog.catalog._session_routes import session_routes
from leapfrog.catalog._standalone_routes import standalone_routes
from leapfrog.catalog._store import Store
from leapfrog.catalog._txn_routes import txn_routes
from leapfrog.catalog.checks import Checker, make_checker
from leapfrog.catalog.dns import DnsServer, start_dns
from leapfrog.shared.errors import LeapfrogError

__all__ = ["RunningCatalog", "serve", "start"]

log = logging.getLogger("leapfrog.catalog")


class RunningCatalog:
    def __init__(
        self, config: CatalogConfig, store: Store, journal: Journal, ca: CertificateAuthority
    ) -> None:
        self.config = config
        self.ca = ca
        self.store = store
        self._journal = journal
        self._http = HttpServer(self._handle)
        self._api: Api | None = None
        self._dns: DnsServer | None = None
        self._checker: Checker | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._guard: AclGuard | None = None
        self.http_port = 0
        self.dns_port: int | None = None

    async def _handle(self, request: Any) -> Any:
        assert self._api is not None
        return await self._api.handle(request)

    def _who(self, call: Call) -> Authorizer:
        """The authorizer of a call's token (the guard resolved it already; ACL is on)."""
        assert self._guard is not None
        return self._guard.resolve(request_token(call.request))

    def describe(self) -> str:
        dns = f"{self.config.dns_host}:{self.dns_port}" if self.dns_port else "off"
        return f"catalog ready: http={self.config.http_host}:{self.http_port} dns={dns}"

    async def _start(self) -> None:
        config, store = self.config, self.store
        self._start_checker()
        routes = (
            agent_routes(store, _self_info(config, store))
            + read_routes(store)
            + catalog_routes(store)
            + agent_health_routes(store)
            + acl_routes(store, config.acl, self._who)
            + connect_routes(
                store,
                self.ca,
                DefaultPolicy(config.default_intention_policy, config.acl is not None),
            )
            + kv_routes(store.kv, store.sessions)
            + session_routes(store)
            + txn_routes(store)
            + event_routes(store)
            + standalone_routes(store, config.ui_url)
            + metrics_routes(store, lambda: self._api.requests_served if self._api else 0)
            + openapi_routes()
        )
        self._guard = AclGuard(store, config.acl) if config.acl is not None else None
        self._api = Api(store, routes, self._guard)
        store.sessions.arm()  # TTLs of restored sessions count from now
        try:
            await self._http.start(config.http_host, config.http_port)
        except OSError as exc:
            raise LeapfrogError(
                f"the catalog cannot listen on {config.http_host}:{config.http_port}: "
                f"{exc.strerror}",
                hint="choose another --http address or stop what holds the port",
            ) from None
        self.http_port = self._http.port
        await self._start_dns()
        self._tasks.append(asyncio.create_task(self._reap_loop()))
        self._tasks.append(asyncio.create_task(self._snapshot_loop()))

    def _start_checker(self) -> None:
        self._checker = make_checker(self.store.update_check)
        self.store.start_checks(self._checker)

    async def _start_dns(self) -> None:
        config = self.config
        if config.dns_port is None:
            return
        try:
            # DNS reads with its own token (Consul's acl.tokens.dns), else the anonymous one.
            reader = config.acl.dns if config.acl is not None else None
            view = StoreDnsView(self.store, reader)
            self._dns = await start_dns(
                view,
                config.dns_host,
                config.dns_port,
                recursors=config.recursors,
                recursor_timeout=config.recursor_timeout,
            )
        except OSError as exc:
            await self._http.close()
            raise LeapfrogError(
                f"the catalog cannot serve DNS on {config.dns_host}:{config.dns_port}: "
                f"{exc.strerror}",
                hint="choose another --dns address or stop what holds the port",
            ) from None
        self.dns_port = self._dns.port

    async def _reap_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.reap_interval)
            for service_id in self.store.reap(self.config.reap_minimum):
                log.info(
                    "deregistered service %s: critical past its deregister timeout", service_id
                )

    async def _snapshot_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            if self._guard is not None and self._guard.reload():
                log.info("catalog: read the tokens file again")
            if self._journal.lines_since_snapshot >= self.config.snapshot_every:
                await self._journal.snapshot(lambda: capture_store(self.store))

    async def close(self) -> None:
        """Stop serving and leave the state on disk as a fresh snapshot."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._http.close()
        if self._dns is not None:
            await self._dns.close()
        if self._checker is not None:
            await self._checker.close()
        self.store.sessions.stop()
        self.store.flush_output()
        await self._journal.snapshot(lambda: capture_store(self.store))
        await self._journal.close()


def _self_info(config: CatalogConfig, store: Store) -> dict[str, Any]:
    member = {
        "Name": store.node_name,
        "Addr": store.node_address,
        "Port": 8301,
        "Tags": {"dc": store.datacenter, "role": "consul", "build": __version__},
        "Status": 1,
        "ProtocolMin": 1,
        "ProtocolMax": 5,
        "ProtocolCur": 2,
        "DelegateMin": 2,
        "DelegateMax": 5,
        "DelegateCur": 4,
    }
    return {
        "Config": {
            "Datacenter": store.datacenter,
            "PrimaryDatacenter": store.datacenter,
            "NodeName": store.node_name,
            "NodeID": store.node_id,
            "Server": True,
            "Revision": "leapfrog",
            "Version": CONSUL_VERSION,
            "BuildDate": "",
        },
        "DebugConfig": {"Datacenter": store.datacenter, "NodeName": store.node_name},
        "Coord": {"Vec": [0.0] * 8, "Error": 1.5, "Adjustment": 0.0, "Height": 1e-05},
        "Member": member,
        "Stats": {"agent": {}, "leapfrog": {"version": __version__}},  # agent: counted per call
        "Meta": {"consul-network-segment": ""},
    }


async def start(config: CatalogConfig) -> RunningCatalog:
    """Load the state from `config.data_dir` and start serving; `close()` stops."""
    try:
        journal = Journal(config.data_dir)
    except DirectoryBusy:
        raise LeapfrogError(
            f"another catalog is using {config.data_dir}",
            hint="stop it, or give this one its own --data-dir",
        ) from None
    except OSError as exc:
        raise LeapfrogError(
            f"the catalog cannot use {config.data_dir}: {exc.strerror}",
            hint="give a --data-dir it can create and write",
        ) from None
    try:
        snapshot, records = journal.load()
    except (OSError, ValueError, KeyError) as exc:
        raise LeapfrogError(
            f"the catalog state in {config.data_dir} cannot be read: {exc}",
            hint="move the directory aside to start with an empty catalog",
        ) from None
    store = Store(
        config.datacenter,
        config.node_name,
        config.node_address,
        journal,
        output_throttle=config.output_throttle,
    )
    restore_store(store, snapshot, records, journal.quarantine)
    # The loaded state lives as long as the process: keep it out of the collector's full
    # passes, which would otherwise walk every record and stall the loop.
    gc.collect()
    gc.freeze()
    # Young objects are collected less often, so a burst of registrations or wake-ups is
    # not cut into by collections.
    gc.set_threshold(20_000, 20, 50)
    journal.open()
    store.ensure_node()
    loop = asyncio.get_running_loop()
    try:
        ca = CertificateAuthority(
            config.data_dir,
            config.datacenter,
            store.log,
            config.leaf_ttl,
            schedule=lambda delay, wake: loop.call_later(max(delay, 0.0), wake),
        )
    except (OSError, ValueError) as exc:
        await journal.close()
        raise LeapfrogError(
            f"the catalog's service-mesh CA cannot be loaded: {exc}",
            hint="restore connect-ca.json from a backup, or move it aside to make a new CA "
            "(services then need new certificates)",
        ) from None
    running = RunningCatalog(config, store, journal, ca)
    await running._start()
    return running


async def serve(
    config: CatalogConfig,
    ready: Callable[[RunningCatalog], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run the catalog until `stop` is set (forever without one), then flush and close."""
    running = await start(config)
    try:
        if ready is not None:
            ready(running)
        await (stop or asyncio.Event()).wait()
    finally:
        await running.close()
