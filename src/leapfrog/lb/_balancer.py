"""`leapfrog lb run`: the catalog rendered into HAProxy's (or nginx's) configuration,
checked, written atomically and made live; the proxy runs as this process's child.

A rendered configuration that fails the proxy's own check is reported and never used:
the last good one keeps serving."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leapfrog.lb._accesslog import HAPROXY_LOG_FORMAT, AccessLog
from leapfrog.lb._client import CatalogClient
from leapfrog.lb._engine import Engine
from leapfrog.lb._events import EventSink
from leapfrog.lb._haproxy import HAProxy
from leapfrog.lb._haproxy_cfg import runtime_change
from leapfrog.lb._nginx import Nginx
from leapfrog.lb._template import Rendered, Template
from leapfrog.lb._wait import Wait, quiesce
from leapfrog.lb._watch import Watcher
from leapfrog.shared.errors import LeapfrogError
from leapfrog.shared.files import atomic_write_text

__all__ = ["BalancerSettings", "run_balancer"]

log = logging.getLogger("leapfrog.lb")

Sink = Callable[[dict[str, Any]], None]

# How long the first render may wait for the catalog before the proxy starts anyway
# (with empty backends), so the entry point is up even while the catalog is not.
FIRST_RENDER_WAIT = 5.0


@dataclass(frozen=True)
class BalancerSettings:
    engine: str
    listen: str
    stats: str
    wait: Wait
    data_dir: Path
    binary: str
    template: Path | None = None
    slots: int = 4
    stop_grace: float = 25.0
    instance: str = "lb-1"
    access_log: bool = True
    threads: int = 1
    identity: bool = False
    """Present this instance's service certificate (from the catalog's CA) to backends
    that serve mutual TLS (LEAPFROG_IDENTITY=on)."""

    @property
    def service(self) -> str:
        """The service name this instance's certificate carries: `lb` for `lb-1`."""
        name, _, index = self.instance.rpartition("-")
        return name if name and index.isdigit() else self.instance


def _engine(settings: BalancerSettings, run_dir: Path) -> Engine:
    if settings.engine == "haproxy":
        return HAProxy(settings.binary, run_dir)
    if settings.engine == "nginx":
        return Nginx(settings.binary, run_dir, settings.stats)
    raise LeapfrogError(f"unknown engine {settings.engine!r}", hint="use haproxy or nginx")


class Balancer:
    def __init__(self, settings: BalancerSettings, sink: Sink) -> None:
        self.settings = settings
        self.sink = sink
        run_dir = settings.data_dir / "run"
        run_dir.mkdir(parents=True, exist_ok=True)
        self.engine = _engine(settings, run_dir)
        ext = "cfg" if settings.engine == "haproxy" else "conf"
        self.config = settings.data_dir / f"{settings.engine}.{ext}"
        self.candidate = settings.data_dir / f"{settings.engine}.new.{ext}"
        context = {
            "lb": {
                "listen": settings.listen,
                "stats": settings.stats,
                "run_dir": str(run_dir),
                "admin_socket": str(run_dir / "admin.sock"),
                "log_socket": str(run_dir / "log.sock"),
                "haproxy_log_format": HAPROXY_LOG_FORMAT,
                "engine": settings.engine,
                "user": "root" if os.geteuid() == 0 else "",
                "access_log": settings.access_log,
                "threads": settings.threads,
                # The service whose certificate the proxy presents to mTLS backends; ""
                # when the stack has identity off.
                "identity": settings.service if settings.identity else "",
            }
        }
        self.template = Template(
            settings.template or self.engine.template, context, settings.slots, run_dir
        )
        self.access = AccessLog(run_dir / "log.sock", sink, getattr(sink, "access_text", None))
        self.live: str | None = None

    def _check(self, text: str) -> str | None:
        atomic_write_text(self.candidate, text)
        return self.engine.validate(self.candidate)

    async def _first(self, watcher: Watcher) -> Rendered:
        deadline = time.monotonic() + FIRST_RENDER_WAIT
        while True:
            watcher.changed.clear()  # before the render: an answer during it is not lost
            rendered = self.template.render(watcher)
            watcher.check()
            left = deadline - time.monotonic()
            if rendered.complete or left <= 0:
                return rendered
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(watcher.changed.wait(), timeout=left)

    async def run(self, stopping: asyncio.Event) -> None:
        watcher = Watcher(CatalogClient())
        await self.access.start()
        try:
            rendered = await self._first(watcher)
            problem = await asyncio.to_thread(self._check, rendered.text)
            if problem:
                raise LeapfrogError(
                    f"the rendered {self.engine.name} configuration is invalid:\n{problem}",
                    hint=f"fix the template {self.template.source}",
                )
            self.candidate.replace(self.config)
            await self.engine.start(self.config)
            self.live = rendered.text
            self.sink(
                {
                    "level": "info",
                    "kind": "lb.started",
                    "engine": self.engine.name,
                    "message": f"{self.engine.name} serving {self.settings.listen}",
                }
            )
            await self._follow(watcher, rendered, stopping)
        finally:
            await self.engine.stop(self.settings.stop_grace)
            self.access.close()
            await watcher.close()

    async def _proxy_exit(self) -> None:
        """Returns when the proxy has died; this process then exits too, so the supervisor
        restarts the whole unit."""
        while self.engine.exited() is None:
            await asyncio.sleep(0.5)

    async def _follow(self, watcher: Watcher, rendered: Rendered, stopping: asyncio.Event) -> None:
        stop_task = asyncio.create_task(stopping.wait())
        died = asyncio.create_task(self._proxy_exit())
        seen = 0.0
        try:
            while not stopping.is_set():
                if rendered.complete:
                    watcher.retain(set(rendered.deps))
                change = asyncio.create_task(watcher.changed.wait())
                await asyncio.wait({change, stop_task, died}, return_when=asyncio.FIRST_COMPLETED)
                change.cancel()
                if stopping.is_set():
                    break
                if died.done():
                    raise LeapfrogError(
                        f"{self.engine.name} exited with {self.engine.exited()}",
                        hint="its messages are in this instance's log",
                    )
                settled = rendered.complete
                if settled:
                    seen = time.time()  # the first sign of this change
                watcher.changed.clear()
                if settled:
                    # A change the runtime API makes (instances joining or leaving, new
                    # routes) goes live at once: it costs milliseconds and no connection,
                    # so there is nothing to save by waiting. Only a reload waits for the
                    # catalog to be quiet.
                    early = self._render(watcher)
                    if early is None:
                        continue
                    if self._at_runtime(early):
                        rendered = early
                        await self._apply(rendered.text, seen)
                        continue
                    await quiesce(watcher.changed, self.settings.wait)
                fresh = self._render(watcher)
                if fresh is None:
                    continue
                rendered = fresh
                if rendered.complete and rendered.text != self.live:
                    await self._apply(rendered.text, seen)
        finally:
            stop_task.cancel()
            died.cancel()

    def _render(self, watcher: Watcher) -> Rendered | None:
        """The template over the catalog's latest answers; None (reported) when it fails."""
        try:
            rendered = self.template.render(watcher)
        except LeapfrogError as exc:
            self.sink({"level": "error", "kind": "lb.render_failed", "message": str(exc)})
            return None
        watcher.check()
        return rendered

    def _at_runtime(self, rendered: Rendered) -> bool:
        """True when `rendered` is complete, differs from the live configuration, and the
        proxy can take it without a reload."""
        if not rendered.complete or self.live is None or rendered.text == self.live:
            return False
        if self.engine.name != "haproxy":
            return False
        return runtime_change(self.live, rendered.text) is not None

    async def _apply(self, text: str, seen: float) -> None:
        assert self.live is not None
        started = time.time()
        runtime = self.engine.name == "haproxy" and runtime_change(self.live, text) is not None
        if not runtime:
            problem = await asyncio.to_thread(self._check, text)
            if problem:
                self.sink(
                    {
                        "level": "error",
                        "kind": "lb.invalid_config",
                        "message": f"rendered configuration rejected, the last good one "
                        f"keeps serving: {problem}",
                    }
                )
                return
            self.candidate.replace(self.config)
        else:
            atomic_write_text(self.config, text)
        try:
            how = await self.engine.apply(self.live, text, self.config)
        except LeapfrogError as exc:
            self.sink({"level": "error", "kind": "lb.apply_failed", "message": str(exc)})
            return
        self.live = text
        done = time.time()
        self.sink(
            {
                "level": "info",
                "kind": "lb.applied",
                "how": how,
                "changed_at": seen,
                "live_at": done,
                "apply_ms": round((done - started) * 1000, 2),
                "message": f"backends updated by {how} in "
                f"{(done - seen) * 1000:.0f} ms after the change",
            }
        )


async def run_balancer(settings: BalancerSettings) -> None:
    """Serve until SIGTERM or SIGINT, then stop the proxy gracefully."""
    logging.getLogger("httpx").setLevel(logging.WARNING)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    sink = EventSink(settings.instance, settings.data_dir / "spool")
    flusher = asyncio.create_task(sink.flush_forever())
    try:
        await Balancer(settings, sink).run(stopping)
    finally:
        flusher.cancel()
        await asyncio.to_thread(sink.close)
