"""The supervisor's control socket, the server's side (the protocol and the client are in
`control.py`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from leapfrog.runtime.local.day2 import OPS as _DAY2
from leapfrog.shared.errors import LeapfrogError

if TYPE_CHECKING:
    from leapfrog.runtime.local.supervisor import Supervisor

__all__ = ["ControlServer"]

_LIMIT = 64 * 1024
_HEARTBEAT = 1.0
"""A watcher gets a snapshot at least this often, so it can keep its own deadlines."""


class ControlServer:
    def __init__(self, supervisor: Supervisor, path: Path) -> None:
        self.supervisor = supervisor
        self.path = path
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self.path.unlink(missing_ok=True)
        old = os.umask(0o177)  # the socket file: owner read-write only
        try:
            self._server = await asyncio.start_unix_server(self._handle, self.path, limit=_LIMIT)
        finally:
            os.umask(old)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self.path.unlink(missing_ok=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            try:
                req = json.loads(line)
                op = req["op"]
            except (ValueError, KeyError, TypeError):
                await self._send(writer, {"error": "expected a JSON line with an `op`"})
                return
            await self._dispatch(op, req, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _dispatch(
        self,
        op: str,
        req: dict[str, Any],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        sup = self.supervisor
        if op == "status":
            await self._send(writer, sup.snapshot())
        elif op == "watch":
            await self._stream(writer, reader)
        elif op == "down":
            sup.stop_requested.set()
            await self._stream(writer, reader, until_stopped=True)
        elif op == "restart":
            name = str(req.get("name", ""))
            if not sup.find(name):
                known = ", ".join(sorted(sup.units)) or "none"
                await self._send(
                    writer,
                    {
                        "error": f"there is no unit or instance named {name!r}",
                        "hint": f"units: {known}; an instance is UNIT-N",
                    },
                )
                return
            await self._send(writer, {"restarted": await sup.restart(name)})
        elif op == "apply":
            await self._send(writer, await self._apply(str(req.get("file", ""))))
        elif op in _DAY2:
            await self._send(writer, await _DAY2[op](sup, req))
        else:
            await self._send(writer, {"error": f"unknown op {op!r}"})

    async def _apply(self, file: str) -> dict[str, Any]:
        from leapfrog.plan import build_plan
        from leapfrog.runtime.local.intentions import IntentionKeeper
        from leapfrog.runtime.local.isolation import enforce_network
        from leapfrog.runtime.local.launch import build_launches
        from leapfrog.spec import SpecError, load_stack

        sup = self.supervisor
        try:
            stack = load_stack(Path(file))
            if stack.state_dir != sup.paths.root:
                raise LeapfrogError(f"{file} belongs to another state directory")
            plan = build_plan(stack)
            launches = build_launches(stack, plan, sup.paths)
            # The firewall first: callers removed lose their way in before anything moves.
            enforce_network(stack, launches, sup.paths)
        except SpecError as exc:
            return {"error": str(exc), "hint": "`leapfrog validate` shows where"}
        except LeapfrogError as exc:
            return {"error": exc.message, "hint": exc.hint}
        changes: dict[str, list[str]] = sup.apply(plan, launches).summary()
        keeper = sup.intentions
        if keeper is None and stack.spec.identity_on:  # turned on while the stack runs
            keeper = IntentionKeeper.attach(sup, stack.spec, sup.paths)
            keeper.gate.set()
        if keeper is not None:
            # Callers changed: the intentions change now, and nothing restarts.
            changes["intentions"] = await keeper.apply(stack.spec)
        return {"changes": changes}

    async def _stream(
        self,
        writer: asyncio.StreamWriter,
        reader: asyncio.StreamReader,
        until_stopped: bool = False,
    ) -> None:
        sup = self.supervisor
        closed = asyncio.ensure_future(reader.read(1))
        try:
            while True:
                waiter = asyncio.ensure_future(sup.changed())
                await self._send(writer, sup.snapshot())
                if until_stopped and sup.stopped.is_set():
                    return
                stopped = asyncio.ensure_future(sup.stopped.wait())
                await asyncio.wait(
                    {waiter, closed, stopped},
                    timeout=_HEARTBEAT,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                stopped.cancel()
                waiter.cancel()
                if closed.done():
                    return
                if sup.stopped.is_set() and not until_stopped:
                    await self._send(writer, sup.snapshot())
                    return
        finally:
            closed.cancel()

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
        writer.write(json.dumps(message).encode() + b"\n")
        await writer.drain()
