"""Components in the catalog: each healthy component instance is registered as a Consul
service (with a TCP check the catalog runs), so `kafka.service.consul` resolves and the
load balancer and the SDK find the platform the way they find services.

Registration is best effort and never holds anything up: the catalog and the components
start in parallel, so a registration waits (bounded) for the catalog to answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from leapfrog.runtime.local.launch import Launch
from leapfrog.runtime.local.paths import StatePaths

__all__ = ["Registrar"]

_ATTEMPTS = 60
_RETRY_EVERY = 0.5


class Registrar:
    def __init__(self, address: str, port: int, token: str | None, stack: str) -> None:
        self.address, self.port, self.token, self.stack = address, port, token, stack
        self._tasks: set[asyncio.Task[None]] = set()
        self.registered: set[str] = set()

    @classmethod
    def for_catalog(cls, launch: Launch | None, paths: StatePaths, stack: str) -> Registrar | None:
        if launch is None or launch.port is None:
            return None
        token = None
        if "--acl-token-file" in launch.argv:
            with contextlib.suppress(OSError):
                token = paths.catalog_token.read_text().strip() or None
        return cls(launch.address, launch.port, token, stack)

    def follow(self, launch: Launch, healthy: bool) -> None:
        """Register on becoming healthy; a restart (perhaps with a new launch) registers
        again, which updates the entry in place."""
        if healthy:
            self.register(launch)
        else:
            self.registered.discard(launch.name)

    def register(self, launch: Launch) -> None:
        if launch.name in self.registered or launch.port is None:
            return
        self.registered.add(launch.name)
        run = launch.component
        body = {
            "ID": launch.name,
            "Name": launch.unit,
            "Address": launch.address,
            "Port": launch.port,
            "Tags": ["leapfrog", launch.kind],
            "Meta": {"leapfrog_stack": self.stack, "version": run.version if run else ""},
            "Check": {
                "Name": f"{launch.unit} accepts connections",
                "TCP": f"{launch.address}:{launch.port}",
                "Interval": "10s",
                "Timeout": "2s",
                "DeregisterCriticalServiceAfter": "10m",
            },
        }
        self._spawn(self._put("/v1/agent/service/register", body, launch.name))

    def deregister(self, name: str) -> None:
        if name in self.registered:
            self.registered.discard(name)
            self._spawn(self._put(f"/v1/agent/service/deregister/{name}", None, name))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _put(self, path: str, body: Any, name: str) -> None:
        payload = b"" if body is None else json.dumps(body).encode()
        head = [
            f"PUT {path} HTTP/1.1",
            f"Host: {self.address}:{self.port}",
            f"Content-Length: {len(payload)}",
            "Connection: close",
        ]
        if self.token:
            head.append(f"X-Consul-Token: {self.token}")
        request = ("\r\n".join(head) + "\r\n\r\n").encode() + payload
        for _ in range(_ATTEMPTS):
            try:
                # asyncio.timeout, not wait_for: 3.11's wait_for can swallow the
                # cancellation close() sends.
                async with asyncio.timeout(5):
                    status = await self._send(request)
            except (OSError, TimeoutError):
                await asyncio.sleep(_RETRY_EVERY)
                continue
            if status != 200 and body is not None:
                self.registered.discard(name)  # so a later healthy state tries again
            return

    async def _send(self, request: bytes) -> int:
        reader, writer = await asyncio.open_connection(self.address, self.port)
        try:
            writer.write(request)
            await writer.drain()
            line = await reader.readline()
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        parts = line.split()
        return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
